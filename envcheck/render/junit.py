"""JUnit XML: one <testsuite> per package, one <testcase> per check.

Package strings pass :func:`envcheck.render.neutralize.xml` first: a NUL or an escape
character would make the whole file unparseable and the CI system show no results.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from envcheck.model.findings import Report, Status
from envcheck.render import neutralize as nz
from envcheck.render.text import finding_line


def render_junit(report: Report) -> str:
    """One <testsuite> per package, one <testcase> per check (as CI systems expect)."""
    suites = ET.Element("testsuites", name="envcheck")
    for package in report.packages:
        failures = sum(c.status is Status.FAIL for c in package.checks)
        errors = sum(c.status is Status.ERROR for c in package.checks) + (
            1 if package.internal_error else 0)
        skipped = sum(c.status is Status.SKIP for c in package.checks)
        suite = ET.SubElement(suites, "testsuite", name=nz.xml(package.name or package.path),
                              tests=str(len(package.checks)), failures=str(failures),
                              errors=str(errors), skipped=str(skipped),
                              time=f"{package.duration_s:.3f}")
        if package.internal_error:
            case = ET.SubElement(suite, "testcase", classname=nz.xml(package.path),
                                 name="envcheck")
            ET.SubElement(case, "error", message=nz.xml(package.internal_error))
        for check in package.checks:
            case = ET.SubElement(suite, "testcase",
                                 classname=nz.xml(package.name or package.path),
                                 name=check.id, time=f"{check.duration_s:.3f}")
            body = nz.xml("\n".join(finding_line(f) for f in check.findings))
            first = nz.xml(check.findings[0].message.splitlines()[0]) if check.findings else ""
            if check.status is Status.FAIL:
                ET.SubElement(case, "failure", message=first).text = body
            elif check.status is Status.ERROR:
                ET.SubElement(case, "error", message=first).text = body
            elif check.status is Status.SKIP:
                ET.SubElement(case, "skipped", message=first)
            elif body:
                ET.SubElement(case, "system-out").text = body
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
