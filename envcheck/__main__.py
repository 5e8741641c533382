from envcheck.commands.cli import main

raise SystemExit(main())
