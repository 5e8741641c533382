"""Which globals a pickle may import: an allowlist of exact (module, name) pairs.

Three kinds of entries, because importing a name, calling it and constructing it are
different powers:

* ``CLASSES``: classes of the model libraries (scikit-learn, numpy, scipy, pandas, joblib,
  xgboost, lightgbm) and the few builtin containers -- may be imported and constructed.
* ``FUNCTIONS``: the handful of non-class callables real model pickles call (numpy's array
  and scalar reconstructors, numpy.random's constructors, pandas' block unpicklers,
  ``copyreg._reconstructor``, ``_codecs.encode`` ...).  Some are only safe with particular
  arguments; :mod:`envcheck.pickles` checks those arguments statically.
* ``REFERENCES``: names a model may hold but must never call during loading, such as the
  numpy ufunc in ``FunctionTransformer(np.log1p)``.

Anything else fails ``pickle.safety``.  ``DANGEROUS_*`` says *why* the worst ones fail.
The scikit-learn class table is generated, not hand-written: it is the union of every class
defined in scikit-learn 0.21.3, 0.24.2, 1.0.2, 1.3.2 and 1.9.1 (regenerate with
``python envcheck/pickle_allowlist.py`` under each version and merge).  Testing, dataset
and vendored ``externals`` modules are left out on purpose.
"""

from __future__ import annotations

from typing import Optional

# --------------------------------------------------------------------------- scikit-learn

_SKLEARN = {
    'sklearn._loss._loss': 'CyAbsoluteError CyExponentialLoss CyHalfBinomialLoss CyHalfGammaLoss CyHalfMultinomialLoss CyHalfPoissonLoss CyHalfSquaredError CyHalfTweedieLoss CyHalfTweedieLossIdentity CyHuberLoss CyLossFunction CyPinballLoss',
    'sklearn._loss.glm_distribution': 'DistributionBoundary ExponentialDispersionModel GammaDistribution InverseGaussianDistribution NormalDistribution PoissonDistribution TweedieDistribution',
    'sklearn._loss.link': 'BaseLink HalfLogitLink IdentityLink Interval LogLink LogitLink MultinomialLogit',
    'sklearn._loss.loss': 'AbsoluteError ArrayAPILossMixin BaseLoss ExponentialLoss HalfBinomialLoss HalfBinomialLossArrayAPI HalfGammaLoss HalfMultinomialLoss HalfMultinomialLossArrayAPI HalfPoissonLoss HalfPoissonLossArrayAPI HalfSquaredError HalfTweedieLoss HalfTweedieLossIdentity HuberLoss PinballLoss',
    'sklearn.base': 'BaseEstimator BiclusterMixin ClassNamePrefixFeaturesOutMixin ClassifierMixin ClusterMixin DensityMixin MetaEstimatorMixin MultiOutputMixin OneToOneFeatureMixin OutlierMixin RegressorMixin TransformerMixin _OneToOneFeatureMixin _UnstableArchMixin',
    'sklearn.calibration': 'CalibratedClassifierCV CalibrationDisplay _CalibratedClassifier _SigmoidCalibration _TemperatureScaling',
    'sklearn.callback._base': 'AutoPropagatedCallback FitCallback _BaseCallback',
    'sklearn.callback._callback_context': 'CallbackContext',
    'sklearn.callback._callback_support': 'CallbackSupportMixin',
    'sklearn.callback._progressbar': 'ProgressBar RichProgressMonitor RichTask _Progress _StyledColumnMixin _StyledPercentageColumn _StyledTimeRemainingColumn',
    'sklearn.callback._scoring_monitor': 'ScoringMonitor ScoringMonitorLog',
    'sklearn.callback._transport': 'ListenerHandle',
    'sklearn.cluster._affinity_propagation': 'AffinityPropagation',
    'sklearn.cluster._agglomerative': 'AgglomerativeClustering FeatureAgglomeration',
    'sklearn.cluster._bicluster': 'BaseSpectral SpectralBiclustering SpectralCoclustering',
    'sklearn.cluster._birch': 'Birch _CFNode _CFSubcluster',
    'sklearn.cluster._bisect_k_means': 'BisectingKMeans _BisectingTree',
    'sklearn.cluster._dbscan': 'DBSCAN',
    'sklearn.cluster._feature_agglomeration': 'AgglomerationTransform',
    'sklearn.cluster._hdbscan._tree': 'TreeUnionFind',
    'sklearn.cluster._hdbscan.hdbscan': 'HDBSCAN',
    'sklearn.cluster._hierarchical': 'UnionFind WeightedEdge',
    'sklearn.cluster._hierarchical_fast': 'UnionFind WeightedEdge',
    'sklearn.cluster._kmeans': 'KMeans MiniBatchKMeans _BaseKMeans',
    'sklearn.cluster._mean_shift': 'MeanShift',
    'sklearn.cluster._optics': 'OPTICS',
    'sklearn.cluster._spectral': 'SpectralClustering',
    'sklearn.cluster.affinity_propagation_': 'AffinityPropagation',
    'sklearn.cluster.bicluster': 'BaseSpectral SpectralBiclustering SpectralCoclustering',
    'sklearn.cluster.birch': 'Birch _CFNode _CFSubcluster',
    'sklearn.cluster.dbscan_': 'DBSCAN',
    'sklearn.cluster.hierarchical': 'AgglomerativeClustering FeatureAgglomeration',
    'sklearn.cluster.k_means_': 'KMeans MiniBatchKMeans',
    'sklearn.cluster.mean_shift_': 'MeanShift',
    'sklearn.cluster.optics_': 'OPTICS',
    'sklearn.cluster.spectral': 'SpectralClustering',
    'sklearn.compose._column_transformer': 'ColumnTransformer make_column_selector',
    'sklearn.compose._target': 'TransformedTargetRegressor',
    'sklearn.covariance._elliptic_envelope': 'EllipticEnvelope',
    'sklearn.covariance._empirical_covariance': 'EmpiricalCovariance',
    'sklearn.covariance._graph_lasso': 'BaseGraphicalLasso GraphicalLasso GraphicalLassoCV _DictWithDeprecatedKeys',
    'sklearn.covariance._robust_covariance': 'MinCovDet',
    'sklearn.covariance._shrunk_covariance': 'LedoitWolf OAS ShrunkCovariance',
    'sklearn.covariance.elliptic_envelope': 'EllipticEnvelope',
    'sklearn.covariance.empirical_covariance_': 'EmpiricalCovariance',
    'sklearn.covariance.graph_lasso_': 'GraphLasso GraphLassoCV GraphicalLasso GraphicalLassoCV',
    'sklearn.covariance.robust_covariance': 'MinCovDet',
    'sklearn.covariance.shrunk_covariance_': 'LedoitWolf OAS ShrunkCovariance',
    'sklearn.cross_decomposition._pls': 'CCA PLSCanonical PLSRegression PLSSVD _PLS',
    'sklearn.cross_decomposition.cca_': 'CCA',
    'sklearn.cross_decomposition.pls_': 'PLSCanonical PLSRegression PLSSVD _PLS',
    'sklearn.decomposition._base': '_BasePCA',
    'sklearn.decomposition._dict_learning': 'DictionaryLearning MiniBatchDictionaryLearning SparseCoder _BaseSparseCoding',
    'sklearn.decomposition._factor_analysis': 'FactorAnalysis',
    'sklearn.decomposition._fastica': 'FastICA',
    'sklearn.decomposition._incremental_pca': 'IncrementalPCA',
    'sklearn.decomposition._kernel_pca': 'KernelPCA',
    'sklearn.decomposition._lda': 'LatentDirichletAllocation',
    'sklearn.decomposition._nmf': 'MiniBatchNMF NMF _BaseNMF',
    'sklearn.decomposition._pca': 'PCA',
    'sklearn.decomposition._sparse_pca': 'MiniBatchSparsePCA SparsePCA _BaseSparsePCA',
    'sklearn.decomposition._truncated_svd': 'TruncatedSVD',
    'sklearn.decomposition.base': '_BasePCA',
    'sklearn.decomposition.dict_learning': 'DictionaryLearning MiniBatchDictionaryLearning SparseCoder SparseCodingMixin',
    'sklearn.decomposition.factor_analysis': 'FactorAnalysis',
    'sklearn.decomposition.fastica_': 'FastICA',
    'sklearn.decomposition.incremental_pca': 'IncrementalPCA',
    'sklearn.decomposition.kernel_pca': 'KernelPCA',
    'sklearn.decomposition.nmf': 'NMF',
    'sklearn.decomposition.online_lda': 'LatentDirichletAllocation',
    'sklearn.decomposition.pca': 'PCA',
    'sklearn.decomposition.sparse_pca': 'MiniBatchSparsePCA SparsePCA',
    'sklearn.decomposition.truncated_svd': 'TruncatedSVD',
    'sklearn.discriminant_analysis': 'DiscriminantAnalysisPredictionMixin LinearDiscriminantAnalysis QuadraticDiscriminantAnalysis',
    'sklearn.dummy': 'DummyClassifier DummyRegressor',
    'sklearn.ensemble._bagging': 'BaggingClassifier BaggingRegressor BaseBagging',
    'sklearn.ensemble._base': 'BaseEnsemble _BaseHeterogeneousEnsemble',
    'sklearn.ensemble._forest': 'BaseForest ExtraTreesClassifier ExtraTreesRegressor ForestClassifier ForestRegressor RandomForestClassifier RandomForestRegressor RandomTreesEmbedding',
    'sklearn.ensemble._gb': 'BaseGradientBoosting GradientBoostingClassifier GradientBoostingRegressor VerboseReporter',
    'sklearn.ensemble._gb_losses': 'BinomialDeviance ClassificationLossFunction ExponentialLoss HuberLossFunction LeastAbsoluteError LeastSquaresError LossFunction MultinomialDeviance QuantileLossFunction RegressionLossFunction',
    'sklearn.ensemble._hist_gradient_boosting.binning': '_BinMapper',
    'sklearn.ensemble._hist_gradient_boosting.common': 'MonotonicConstraint',
    'sklearn.ensemble._hist_gradient_boosting.gradient_boosting': 'BaseHistGradientBoosting HistGradientBoostingClassifier HistGradientBoostingRegressor',
    'sklearn.ensemble._hist_gradient_boosting.grower': 'TreeGrower TreeNode',
    'sklearn.ensemble._hist_gradient_boosting.histogram': 'HistogramBuilder',
    'sklearn.ensemble._hist_gradient_boosting.loss': 'BaseLoss BinaryCrossEntropy CategoricalCrossEntropy LeastAbsoluteDeviation LeastSquares Poisson',
    'sklearn.ensemble._hist_gradient_boosting.predictor': 'TreePredictor',
    'sklearn.ensemble._hist_gradient_boosting.splitting': 'SplitInfo Splitter',
    'sklearn.ensemble._iforest': 'IsolationForest',
    'sklearn.ensemble._stacking': 'StackingClassifier StackingRegressor _BaseStacking',
    'sklearn.ensemble._voting': 'VotingClassifier VotingRegressor _BaseVoting',
    'sklearn.ensemble._weight_boosting': 'AdaBoostClassifier AdaBoostRegressor BaseWeightBoosting',
    'sklearn.ensemble.bagging': 'BaggingClassifier BaggingRegressor BaseBagging',
    'sklearn.ensemble.base': 'BaseEnsemble',
    'sklearn.ensemble.forest': 'BaseForest ExtraTreesClassifier ExtraTreesRegressor ForestClassifier ForestRegressor RandomForestClassifier RandomForestRegressor RandomTreesEmbedding',
    'sklearn.ensemble.gradient_boosting': 'BaseGradientBoosting BinomialDeviance ClassificationLossFunction ExponentialLoss GradientBoostingClassifier GradientBoostingRegressor HuberLossFunction LeastAbsoluteError LeastSquaresError LogOddsEstimator LossFunction MeanEstimator MultinomialDeviance PriorProbabilityEstimator QuantileEstimator QuantileLossFunction RegressionLossFunction ScaledLogOddsEstimator VerboseReporter ZeroEstimator',
    'sklearn.ensemble.iforest': 'IsolationForest',
    'sklearn.ensemble.voting': 'VotingClassifier VotingRegressor _BaseVoting',
    'sklearn.ensemble.weight_boosting': 'AdaBoostClassifier AdaBoostRegressor BaseWeightBoosting',
    'sklearn.exceptions': 'ChangedBehaviorWarning ConvergenceWarning DataConversionWarning DataDimensionalityWarning EfficiencyWarning EstimatorCheckFailedWarning FitFailedWarning InconsistentVersionWarning NonBLASDotWarning NotFittedError PositiveSpectrumWarning SkipTestWarning UndefinedMetricWarning UnsetMetadataPassedError',
    'sklearn.feature_extraction._dict_vectorizer': 'DictVectorizer',
    'sklearn.feature_extraction._hash': 'FeatureHasher',
    'sklearn.feature_extraction.dict_vectorizer': 'DictVectorizer',
    'sklearn.feature_extraction.hashing': 'FeatureHasher',
    'sklearn.feature_extraction.image': 'PatchExtractor',
    'sklearn.feature_extraction.text': 'CountVectorizer HashingVectorizer TfidfTransformer TfidfVectorizer VectorizerMixin _VectorizerMixin',
    'sklearn.feature_selection._base': 'SelectorMixin',
    'sklearn.feature_selection._from_model': 'SelectFromModel',
    'sklearn.feature_selection._rfe': 'RFE RFECV',
    'sklearn.feature_selection._sequential': 'SequentialFeatureSelector',
    'sklearn.feature_selection._univariate_selection': 'GenericUnivariateSelect SelectFdr SelectFpr SelectFwe SelectKBest SelectPercentile _BaseFilter',
    'sklearn.feature_selection._variance_threshold': 'VarianceThreshold',
    'sklearn.feature_selection.base': 'SelectorMixin',
    'sklearn.feature_selection.from_model': 'SelectFromModel',
    'sklearn.feature_selection.rfe': 'RFE RFECV',
    'sklearn.feature_selection.univariate_selection': 'GenericUnivariateSelect SelectFdr SelectFpr SelectFwe SelectKBest SelectPercentile _BaseFilter',
    'sklearn.feature_selection.variance_threshold': 'VarianceThreshold',
    'sklearn.frozen._frozen': 'FrozenEstimator',
    'sklearn.gaussian_process._gpc': 'GaussianProcessClassifier _BinaryGaussianProcessClassifierLaplace',
    'sklearn.gaussian_process._gpr': 'GaussianProcessRegressor',
    'sklearn.gaussian_process.gpc': 'GaussianProcessClassifier _BinaryGaussianProcessClassifierLaplace',
    'sklearn.gaussian_process.gpr': 'GaussianProcessRegressor',
    'sklearn.gaussian_process.kernels': 'CompoundKernel ConstantKernel DotProduct ExpSineSquared Exponentiation GenericKernelMixin Hyperparameter Kernel KernelOperator Matern NormalizedKernelMixin PairwiseKernel Product RBF RationalQuadratic StationaryKernelMixin Sum WhiteKernel',
    'sklearn.impute._base': 'MissingIndicator SimpleImputer _BaseImputer',
    'sklearn.impute._iterative': 'IterativeImputer _ImputerTriplet',
    'sklearn.impute._knn': 'KNNImputer',
    'sklearn.inspection._plot.decision_boundary': 'DecisionBoundaryDisplay',
    'sklearn.inspection._plot.partial_dependence': 'PartialDependenceDisplay',
    'sklearn.isotonic': 'IsotonicRegression',
    'sklearn.kernel_approximation': 'AdditiveChi2Sampler Nystroem PolynomialCountSketch RBFSampler SkewedChi2Sampler',
    'sklearn.kernel_ridge': 'KernelRidge',
    'sklearn.linear_model._base': 'LinearClassifierMixin LinearModel LinearRegression MultiOutputLinearModel SparseCoefMixin',
    'sklearn.linear_model._bayes': 'ARDRegression BayesianRidge',
    'sklearn.linear_model._coordinate_descent': 'ElasticNet ElasticNetCV Lasso LassoCV LinearModelCV MultiTaskElasticNet MultiTaskElasticNetCV MultiTaskLasso MultiTaskLassoCV',
    'sklearn.linear_model._glm._newton_solver': 'NewtonCholeskySolver NewtonSolver',
    'sklearn.linear_model._glm.glm': 'GammaRegressor GeneralizedLinearRegressor PoissonRegressor TweedieRegressor _GeneralizedLinearRegressor',
    'sklearn.linear_model._glm.link': 'BaseLink IdentityLink LogLink LogitLink',
    'sklearn.linear_model._huber': 'HuberRegressor',
    'sklearn.linear_model._least_angle': 'Lars LarsCV LassoLars LassoLarsCV LassoLarsIC',
    'sklearn.linear_model._linear_loss': 'LinearModelLoss',
    'sklearn.linear_model._logistic': 'LogisticRegression LogisticRegressionCV _LbfgsCallbackBridge',
    'sklearn.linear_model._omp': 'OrthogonalMatchingPursuit OrthogonalMatchingPursuitCV',
    'sklearn.linear_model._passive_aggressive': 'PassiveAggressiveClassifier PassiveAggressiveRegressor',
    'sklearn.linear_model._perceptron': 'Perceptron',
    'sklearn.linear_model._quantile': 'QuantileRegressor',
    'sklearn.linear_model._ransac': 'RANSACRegressor',
    'sklearn.linear_model._ridge': 'Ridge RidgeCV RidgeClassifier RidgeClassifierCV _BaseRidge _BaseRidgeCV _IdentityClassifier _IdentityRegressor _RidgeClassifierMixin _RidgeGCV _XT_CenterStackOp _X_CenterStackOp',
    'sklearn.linear_model._sag_fast': 'MultinomialLogLoss32 MultinomialLogLoss64',
    'sklearn.linear_model._sgd_fast': 'Classification EpsilonInsensitive Hinge Huber Log LossFunction ModifiedHuber Regression SquaredEpsilonInsensitive SquaredHinge SquaredLoss',
    'sklearn.linear_model._stochastic_gradient': 'BaseSGD BaseSGDClassifier BaseSGDRegressor SGDClassifier SGDOneClassSVM SGDRegressor _ValidationScoreCallback',
    'sklearn.linear_model._theil_sen': 'TheilSenRegressor',
    'sklearn.linear_model.base': 'LinearClassifierMixin LinearModel LinearRegression SparseCoefMixin',
    'sklearn.linear_model.bayes': 'ARDRegression BayesianRidge',
    'sklearn.linear_model.coordinate_descent': 'ElasticNet ElasticNetCV Lasso LassoCV LinearModelCV MultiTaskElasticNet MultiTaskElasticNetCV MultiTaskLasso MultiTaskLassoCV',
    'sklearn.linear_model.huber': 'HuberRegressor',
    'sklearn.linear_model.least_angle': 'Lars LarsCV LassoLars LassoLarsCV LassoLarsIC',
    'sklearn.linear_model.logistic': 'LogisticRegression LogisticRegressionCV',
    'sklearn.linear_model.omp': 'OrthogonalMatchingPursuit OrthogonalMatchingPursuitCV',
    'sklearn.linear_model.passive_aggressive': 'PassiveAggressiveClassifier PassiveAggressiveRegressor',
    'sklearn.linear_model.perceptron': 'Perceptron',
    'sklearn.linear_model.ransac': 'RANSACRegressor',
    'sklearn.linear_model.ridge': 'Ridge RidgeCV RidgeClassifier RidgeClassifierCV _BaseRidge _BaseRidgeCV _RidgeGCV _X_operator _Xt_operator',
    'sklearn.linear_model.sag_fast': 'MultinomialLogLoss32 MultinomialLogLoss64',
    'sklearn.linear_model.sgd_fast': 'Classification EpsilonInsensitive Hinge Huber Log LossFunction ModifiedHuber Regression SquaredEpsilonInsensitive SquaredHinge SquaredLoss',
    'sklearn.linear_model.stochastic_gradient': 'BaseSGD BaseSGDClassifier BaseSGDRegressor SGDClassifier SGDRegressor _ValidationScoreCallback',
    'sklearn.linear_model.theil_sen': 'TheilSenRegressor',
    'sklearn.manifold._classical_mds': 'ClassicalMDS',
    'sklearn.manifold._isomap': 'Isomap',
    'sklearn.manifold._locally_linear': 'LocallyLinearEmbedding',
    'sklearn.manifold._mds': 'MDS',
    'sklearn.manifold._spectral_embedding': 'SpectralEmbedding',
    'sklearn.manifold._t_sne': 'TSNE',
    'sklearn.manifold.isomap': 'Isomap',
    'sklearn.manifold.locally_linear': 'LocallyLinearEmbedding',
    'sklearn.manifold.mds': 'MDS',
    'sklearn.manifold.spectral_embedding_': 'SpectralEmbedding',
    'sklearn.manifold.t_sne': 'TSNE',
    'sklearn.metrics._dist_metrics': 'BrayCurtisDistance BrayCurtisDistance32 BrayCurtisDistance64 CanberraDistance CanberraDistance32 CanberraDistance64 ChebyshevDistance ChebyshevDistance32 ChebyshevDistance64 DiceDistance DiceDistance32 DiceDistance64 DistanceMetric DistanceMetric32 DistanceMetric64 EuclideanDistance EuclideanDistance32 EuclideanDistance64 HammingDistance HammingDistance32 HammingDistance64 HaversineDistance HaversineDistance32 HaversineDistance64 JaccardDistance JaccardDistance32 JaccardDistance64 KulsinskiDistance KulsinskiDistance32 KulsinskiDistance64 MahalanobisDistance MahalanobisDistance32 MahalanobisDistance64 ManhattanDistance ManhattanDistance32 ManhattanDistance64 MatchingDistance MatchingDistance32 MatchingDistance64 MinkowskiDistance MinkowskiDistance32 MinkowskiDistance64 PyFuncDistance PyFuncDistance32 PyFuncDistance64 RogersTanimotoDistance RogersTanimotoDistance32 RogersTanimotoDistance64 RussellRaoDistance RussellRaoDistance32 RussellRaoDistance64 SEuclideanDistance SEuclideanDistance32 SEuclideanDistance64 SokalMichenerDistance SokalMichenerDistance32 SokalMichenerDistance64 SokalSneathDistance SokalSneathDistance32 SokalSneathDistance64 WMinkowskiDistance',
    'sklearn.metrics._pairwise_distances_reduction._argkmin': 'ArgKmin32 ArgKmin64 EuclideanArgKmin32 EuclideanArgKmin64',
    'sklearn.metrics._pairwise_distances_reduction._argkmin_classmode': 'ArgKminClassMode32 ArgKminClassMode64',
    'sklearn.metrics._pairwise_distances_reduction._base': 'BaseDistancesReduction32 BaseDistancesReduction64',
    'sklearn.metrics._pairwise_distances_reduction._datasets_pair': 'DatasetsPair32 DatasetsPair64 DenseDenseDatasetsPair32 DenseDenseDatasetsPair64 DenseSparseDatasetsPair32 DenseSparseDatasetsPair64 SparseDenseDatasetsPair32 SparseDenseDatasetsPair64 SparseSparseDatasetsPair32 SparseSparseDatasetsPair64',
    'sklearn.metrics._pairwise_distances_reduction._dispatcher': 'ArgKmin ArgKminClassMode BaseDistancesReductionDispatcher RadiusNeighbors RadiusNeighborsClassMode',
    'sklearn.metrics._pairwise_distances_reduction._middle_term_computer': 'DenseDenseMiddleTermComputer32 DenseDenseMiddleTermComputer64 MiddleTermComputer32 MiddleTermComputer64 SparseDenseMiddleTermComputer32 SparseDenseMiddleTermComputer64 SparseSparseMiddleTermComputer32 SparseSparseMiddleTermComputer64',
    'sklearn.metrics._pairwise_distances_reduction._radius_neighbors': 'EuclideanRadiusNeighbors32 EuclideanRadiusNeighbors64 RadiusNeighbors32 RadiusNeighbors64',
    'sklearn.metrics._pairwise_distances_reduction._radius_neighbors_classmode': 'RadiusNeighborsClassMode32 RadiusNeighborsClassMode64',
    'sklearn.metrics._plot.confusion_matrix': 'ConfusionMatrixDisplay',
    'sklearn.metrics._plot.det_curve': 'DetCurveDisplay',
    'sklearn.metrics._plot.precision_recall_curve': 'PrecisionRecallDisplay',
    'sklearn.metrics._plot.regression': 'PredictionErrorDisplay',
    'sklearn.metrics._plot.roc_curve': 'RocCurveDisplay',
    'sklearn.metrics._scorer': '_BaseScorer _CurveScorer _MultimetricScorer _PassthroughScorer _PredictScorer _ProbaScorer _Scorer _ThresholdScorer',
    'sklearn.metrics.scorer': '_BaseScorer _PredictScorer _ProbaScorer _ThresholdScorer',
    'sklearn.mixture._base': 'BaseMixture',
    'sklearn.mixture._bayesian_mixture': 'BayesianGaussianMixture',
    'sklearn.mixture._gaussian_mixture': 'GaussianMixture',
    'sklearn.mixture.base': 'BaseMixture',
    'sklearn.mixture.bayesian_mixture': 'BayesianGaussianMixture',
    'sklearn.mixture.gaussian_mixture': 'GaussianMixture',
    'sklearn.model_selection._classification_threshold': 'BaseThresholdClassifier FixedThresholdClassifier TunedThresholdClassifierCV',
    'sklearn.model_selection._plot': 'LearningCurveDisplay ValidationCurveDisplay _BaseCurveDisplay',
    'sklearn.model_selection._search': 'BaseSearchCV GridSearchCV ParameterGrid ParameterSampler RandomizedSearchCV',
    'sklearn.model_selection._search_successive_halving': 'BaseSuccessiveHalving HalvingGridSearchCV HalvingRandomSearchCV _SubsampleMetaSplitter',
    'sklearn.model_selection._split': 'BaseCrossValidator BaseShuffleSplit GroupKFold GroupShuffleSplit GroupsConsumerMixin KFold LeaveOneGroupOut LeaveOneOut LeavePGroupsOut LeavePOut PredefinedSplit RepeatedKFold RepeatedStratifiedKFold ShuffleSplit StratifiedGroupKFold StratifiedKFold StratifiedShuffleSplit TimeSeriesSplit _BaseKFold _CVIterableWrapper _RepeatedSplits _UnsupportedGroupCVMixin',
    'sklearn.multiclass': 'OneVsOneClassifier OneVsRestClassifier OutputCodeClassifier _ConstantPredictor',
    'sklearn.multioutput': 'ClassifierChain MultiOutputClassifier MultiOutputEstimator MultiOutputRegressor RegressorChain _BaseChain _MultiOutputEstimator',
    'sklearn.naive_bayes': 'BaseDiscreteNB BaseNB BernoulliNB CategoricalNB ComplementNB GaussianNB MultinomialNB _BaseDiscreteNB _BaseNB',
    'sklearn.neighbors._ball_tree': 'BallTree BallTree32 BallTree64 BinaryTree BinaryTree32 BinaryTree64 NeighborsHeap NeighborsHeap32 NeighborsHeap64 NodeHeap',
    'sklearn.neighbors._base': 'KNeighborsMixin NeighborsBase RadiusNeighborsMixin',
    'sklearn.neighbors._classification': 'KNeighborsClassifier RadiusNeighborsClassifier',
    'sklearn.neighbors._dist_metrics': 'BrayCurtisDistance CanberraDistance ChebyshevDistance DiceDistance DistanceMetric EuclideanDistance HammingDistance HaversineDistance JaccardDistance KulsinskiDistance MahalanobisDistance ManhattanDistance MatchingDistance MinkowskiDistance PyFuncDistance RogersTanimotoDistance RussellRaoDistance SEuclideanDistance SokalMichenerDistance SokalSneathDistance WMinkowskiDistance',
    'sklearn.neighbors._distance_metric': 'DistanceMetric',
    'sklearn.neighbors._graph': 'KNeighborsTransformer RadiusNeighborsTransformer',
    'sklearn.neighbors._kd_tree': 'BinaryTree BinaryTree32 BinaryTree64 KDTree KDTree32 KDTree64 NeighborsHeap NeighborsHeap32 NeighborsHeap64 NodeHeap',
    'sklearn.neighbors._kde': 'KernelDensity',
    'sklearn.neighbors._lof': 'LocalOutlierFactor',
    'sklearn.neighbors._nca': 'NeighborhoodComponentsAnalysis',
    'sklearn.neighbors._nearest_centroid': 'NearestCentroid',
    'sklearn.neighbors._quad_tree': '_QuadTree',
    'sklearn.neighbors._regression': 'KNeighborsRegressor RadiusNeighborsRegressor',
    'sklearn.neighbors._unsupervised': 'NearestNeighbors',
    'sklearn.neighbors.ball_tree': 'BallTree BinaryTree NeighborsHeap NodeHeap',
    'sklearn.neighbors.base': 'KNeighborsMixin NeighborsBase RadiusNeighborsMixin SupervisedFloatMixin SupervisedIntegerMixin UnsupervisedMixin',
    'sklearn.neighbors.classification': 'KNeighborsClassifier RadiusNeighborsClassifier',
    'sklearn.neighbors.dist_metrics': 'BrayCurtisDistance CanberraDistance ChebyshevDistance DiceDistance DistanceMetric EuclideanDistance HammingDistance HaversineDistance JaccardDistance KulsinskiDistance MahalanobisDistance ManhattanDistance MatchingDistance MinkowskiDistance PyFuncDistance RogersTanimotoDistance RussellRaoDistance SEuclideanDistance SokalMichenerDistance SokalSneathDistance WMinkowskiDistance',
    'sklearn.neighbors.kd_tree': 'BinaryTree KDTree NeighborsHeap NodeHeap',
    'sklearn.neighbors.kde': 'KernelDensity',
    'sklearn.neighbors.lof': 'LocalOutlierFactor',
    'sklearn.neighbors.nca': 'NeighborhoodComponentsAnalysis',
    'sklearn.neighbors.nearest_centroid': 'NearestCentroid',
    'sklearn.neighbors.quad_tree': '_QuadTree',
    'sklearn.neighbors.regression': 'KNeighborsRegressor RadiusNeighborsRegressor',
    'sklearn.neighbors.unsupervised': 'NearestNeighbors',
    'sklearn.neural_network._multilayer_perceptron': 'BaseMultilayerPerceptron MLPClassifier MLPRegressor',
    'sklearn.neural_network._rbm': 'BernoulliRBM',
    'sklearn.neural_network._stochastic_optimizers': 'AdamOptimizer BaseOptimizer SGDOptimizer',
    'sklearn.neural_network.multilayer_perceptron': 'BaseMultilayerPerceptron MLPClassifier MLPRegressor',
    'sklearn.neural_network.rbm': 'BernoulliRBM',
    'sklearn.pipeline': 'FeatureUnion Pipeline',
    'sklearn.preprocessing._data': 'Binarizer KernelCenterer MaxAbsScaler MinMaxScaler Normalizer PolynomialFeatures PowerTransformer QuantileTransformer RobustScaler StandardScaler',
    'sklearn.preprocessing._discretization': 'KBinsDiscretizer',
    'sklearn.preprocessing._encoders': 'OneHotEncoder OrdinalEncoder _BaseEncoder',
    'sklearn.preprocessing._function_transformer': 'FunctionTransformer',
    'sklearn.preprocessing._label': 'LabelBinarizer LabelEncoder MultiLabelBinarizer',
    'sklearn.preprocessing._polynomial': 'PolynomialFeatures SplineTransformer',
    'sklearn.preprocessing._target_encoder': 'TargetEncoder',
    'sklearn.preprocessing.data': 'Binarizer KernelCenterer MaxAbsScaler MinMaxScaler Normalizer PolynomialFeatures PowerTransformer QuantileTransformer RobustScaler StandardScaler',
    'sklearn.preprocessing.imputation': 'Imputer',
    'sklearn.preprocessing.label': 'LabelBinarizer LabelEncoder MultiLabelBinarizer',
    'sklearn.random_projection': 'BaseRandomProjection GaussianRandomProjection SparseRandomProjection',
    'sklearn.semi_supervised._label_propagation': 'BaseLabelPropagation LabelPropagation LabelSpreading',
    'sklearn.semi_supervised._self_training': 'SelfTrainingClassifier',
    'sklearn.semi_supervised.label_propagation': 'BaseLabelPropagation LabelPropagation LabelSpreading',
    'sklearn.svm._base': 'BaseLibSVM BaseSVC',
    'sklearn.svm._classes': 'LinearSVC LinearSVR NuSVC NuSVR OneClassSVM SVC SVR',
    'sklearn.svm.base': 'BaseLibSVM BaseSVC',
    'sklearn.svm.classes': 'LinearSVC LinearSVR NuSVC NuSVR OneClassSVM SVC SVR',
    'sklearn.tree._classes': 'BaseDecisionTree DecisionTreeClassifier DecisionTreeRegressor ExtraTreeClassifier ExtraTreeRegressor',
    'sklearn.tree._criterion': 'ClassificationCriterion Criterion Entropy FriedmanMSE Gini MAE MSE Poisson RegressionCriterion',
    'sklearn.tree._export': 'Sentinel _BaseTreeExporter _DOTTreeExporter _MPLTreeExporter',
    'sklearn.tree._partitioner': 'DensePartitioner SparsePartitioner',
    'sklearn.tree._reingold_tilford': 'DrawTree Tree',
    'sklearn.tree._splitter': 'BaseDenseSplitter BaseSparseSplitter BestSparseSplitter BestSplitter DensePartitioner RandomSparseSplitter RandomSplitter SparsePartitioner Splitter',
    'sklearn.tree._tree': 'BestFirstTreeBuilder DepthFirstTreeBuilder Tree TreeBuilder _AlphaPruner _CCPPruneController _PathFinder',
    'sklearn.tree._utils': 'PriorityHeap PytestWeightedFenwickTree Stack WeightedFenwickTree WeightedMedianCalculator WeightedPQueue',
    'sklearn.tree.export': 'Sentinel _BaseTreeExporter _DOTTreeExporter _MPLTreeExporter',
    'sklearn.tree.tree': 'BaseDecisionTree DecisionTreeClassifier DecisionTreeRegressor ExtraTreeClassifier ExtraTreeRegressor',
    'sklearn.utils': 'Bunch Memory Parallel',
    'sklearn.utils._array_api': 'NamespaceAndDevice _ArrayAPIWrapper _NumPyAPIWrapper',
    'sklearn.utils._available_if': '_AvailableIfDescriptor',
    'sklearn.utils._bunch': 'Bunch',
    'sklearn.utils._cython_blas': 'BLAS_Order BLAS_Trans',
    'sklearn.utils._encode': 'MissingValues _NaNCounter _nandict',
    'sklearn.utils._estimator_html_repr': '_IDCounter _VisualBlock',
    'sklearn.utils._fast_dict': 'IntFloatDict',
    'sklearn.utils._isfinite': 'FiniteStatus',
    'sklearn.utils._metadata_requests': 'MetadataRequest MetadataRouter MethodMapping MethodMetadataRequest MethodPair RequestMethod RouterMappingPair _MetadataRequester _RoutingNotSupportedMixin',
    'sklearn.utils._mocking': 'ArraySlicingWrapper CheckingClassifier MockDataFrame NoSampleWeightWrapper _MockEstimatorOnOffPrediction',
    'sklearn.utils._param_validation': 'HasMethods Hidden Interval InvalidParameterError MissingValues Options RealNotInt StrOptions _ArrayLikes _Booleans _CVObjects _Callables _Constraint _InstancesOf _IterablesNotString _NanConstraint _NoneConstraint _PandasNAConstraint _RandomStates _SparseMatrices _VerboseHelper',
    'sklearn.utils._plotting': '_BinaryClassifierCurveDisplayMixin',
    'sklearn.utils._pprint': 'KeyValTuple KeyValTupleParam _EstimatorPrettyPrinter',
    'sklearn.utils._readonly_array_wrapper': 'ReadonlyArrayWrapper',
    'sklearn.utils._repr_html.base': 'ReprHTMLMixin _HTMLDocumentationLinkMixin _IDCounter',
    'sklearn.utils._repr_html.estimator': '_VisualBlock',
    'sklearn.utils._repr_html.fitted_attributes': 'AttrsDict',
    'sklearn.utils._repr_html.params': 'ParamsDict',
    'sklearn.utils._seq_dataset': 'ArrayDataset32 ArrayDataset64 CSRDataset32 CSRDataset64 SequentialDataset32 SequentialDataset64',
    'sklearn.utils._set_output': 'ContainerAdapterProtocol ContainerAdaptersManager PandasAdapter PolarsAdapter _SetOutputMixin',
    'sklearn.utils._tags': 'ClassifierTags InputTags RegressorTags Tags TargetTags TransformerTags',
    'sklearn.utils._unittest_backport': 'TestCase _AssertRaisesBaseContext _AssertRaisesContext _BaseTestCaseContext',
    'sklearn.utils._vector_sentinel': 'StdVectorSentinel StdVectorSentinelFloat64 StdVectorSentinelInt32 StdVectorSentinelInt64 StdVectorSentinelIntP',
    'sklearn.utils._weight_vector': 'WeightVector WeightVector32 WeightVector64',
    'sklearn.utils.deprecation': 'deprecated',
    'sklearn.utils.fast_dict': 'IntFloatDict',
    'sklearn.utils.fixes': 'MaskedArray _FuncWrapper',
    'sklearn.utils.linear_assignment_': '_HungarianState',
    'sklearn.utils.metaestimators': '_AvailableIfDescriptor _BaseComposition _IffHasAttrDescriptor',
    'sklearn.utils.mocking': 'ArraySlicingWrapper CheckingClassifier MockDataFrame',
    'sklearn.utils.optimize': '_LineSearchError',
    'sklearn.utils.parallel': 'Parallel _FuncWrapper',
    'sklearn.utils.seq_dataset': 'ArrayDataset32 ArrayDataset64 CSRDataset32 CSRDataset64 SequentialDataset32 SequentialDataset64',
    'sklearn.utils.testing': 'TempMemmap _IgnoreWarnings mock_mldata_urlopen',
    'sklearn.utils.weight_vector': 'WeightVector',
}

# --------------------------------------------------------------------------- numpy

_NUMPY_SCALARS = (
    "bool_ bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 intc uintc int_ uint "
    "intp uintp longlong ulonglong short ushort byte ubyte half single double longdouble "
    "float16 float32 float64 float128 complex64 complex128 complex256 csingle cdouble "
    "clongdouble object_ str_ bytes_ unicode_ string_ void datetime64 timedelta64 generic "
    "number integer signedinteger unsignedinteger floating complexfloating inexact "
    "flexible character"
).split()

_NUMPY_DTYPE_CLASSES = (
    "BoolDType ByteDType BytesDType CLongDoubleDType Complex128DType Complex64DType "
    "DateTime64DType Float16DType Float32DType Float64DType Int16DType Int32DType "
    "Int64DType Int8DType IntDType LongDType LongDoubleDType LongLongDType ObjectDType "
    "ShortDType StrDType StringDType TimeDelta64DType UByteDType UInt16DType UInt32DType "
    "UInt64DType UInt8DType UIntDType ULongDType ULongLongDType UShortDType VoidDType"
).split()

# Every ufunc of numpy 1.19 and 2.x: what FunctionTransformer(np.log1p) and friends pickle.
NUMPY_UFUNCS = frozenset("""
    abs absolute acos acosh add arccos arccosh arcsin arcsinh arctan arctan2 arctanh
    asin asinh atan atan2 atanh bitwise_and bitwise_count bitwise_invert
    bitwise_left_shift bitwise_not bitwise_or bitwise_right_shift bitwise_xor cbrt ceil
    conj conjugate copysign cos cosh deg2rad degrees divide divmod equal exp exp2 expm1
    fabs float_power floor floor_divide fmax fmin fmod frexp gcd greater greater_equal
    heaviside hypot invert isfinite isinf isnan isnat lcm ldexp left_shift less
    less_equal log log10 log1p log2 logaddexp logaddexp2 logical_and logical_not
    logical_or logical_xor matmul matvec maximum minimum mod modf multiply negative
    nextafter not_equal positive pow power rad2deg radians reciprocal remainder
    right_shift rint sign signbit sin sinh spacing sqrt square subtract tan tanh
    true_divide trunc vecdot vecmat
""".split())

_CORE = ("numpy.core", "numpy._core")  # numpy 1.x writer, numpy 2.x writer


def _pairs(module: str, names: str) -> set[tuple[str, str]]:
    return {(module, n) for n in names.split()}


def _build_classes() -> frozenset[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for module, names in _SKLEARN.items():
        out |= _pairs(module, names)
    out |= _pairs("builtins", "object int float complex bool str bytes bytearray list "
                  "tuple dict set frozenset slice range")
    out |= _pairs("collections", "OrderedDict defaultdict deque Counter")
    out |= _pairs("datetime", "datetime date time timedelta timezone")
    out |= _pairs("decimal", "Decimal")
    # numpy
    out |= {("numpy", n) for n in _NUMPY_SCALARS + ["ndarray", "dtype", "matrix", "recarray",
                                                    "record"]}
    out |= {("numpy.dtypes", n) for n in _NUMPY_DTYPE_CLASSES}
    for core in _CORE:
        out |= _pairs(core + ".records", "recarray record")
        out |= _pairs(core + ".multiarray", "ndarray dtype")
    out |= _pairs("numpy.matrixlib.defmatrix", "matrix")
    out |= _pairs("numpy.ma.core", "MaskedArray MaskedConstant mvoid")
    out |= _pairs("numpy.random.mtrand", "RandomState")
    out |= _pairs("numpy.random._mt19937", "MT19937")
    out |= _pairs("numpy.random._pcg64", "PCG64 PCG64DXSM")
    out |= _pairs("numpy.random._philox", "Philox")
    out |= _pairs("numpy.random._sfc64", "SFC64")
    out |= _pairs("numpy.random._generator", "Generator")
    out |= _pairs("numpy.random.bit_generator", "SeedSequence")
    out |= _pairs("numpy.random._bit_generator", "SeedSequence")
    # scipy.sparse, before (scipy.sparse.csr) and after (scipy.sparse._csr) 1.8
    for fmt in ("csr", "csc", "coo", "lil", "dok", "dia", "bsr"):
        for module in (f"scipy.sparse.{fmt}", f"scipy.sparse._{fmt}"):
            out |= _pairs(module, f"{fmt}_matrix {fmt}_array")
    out |= _pairs("scipy.stats._distn_infrastructure",
                  "rv_continuous_frozen rv_discrete_frozen rv_frozen")
    # pandas
    out |= _pairs("pandas.core.frame", "DataFrame")
    out |= _pairs("pandas.core.series", "Series")
    out |= _pairs("pandas.core.indexes.base", "Index")
    out |= _pairs("pandas.core.indexes.range", "RangeIndex")
    out |= _pairs("pandas.core.indexes.multi", "MultiIndex")
    out |= _pairs("pandas.core.indexes.numeric", "Int64Index Float64Index UInt64Index")
    out |= _pairs("pandas.core.indexes.category", "CategoricalIndex")
    out |= _pairs("pandas.core.indexes.datetimes", "DatetimeIndex")
    out |= _pairs("pandas.core.indexes.frozen", "FrozenList")
    out |= _pairs("pandas.core.internals.managers", "BlockManager SingleBlockManager")
    out |= _pairs("pandas.core.internals.blocks",
                  "Block NumpyBlock ObjectBlock FloatBlock IntBlock CategoricalBlock "
                  "DatetimeTZBlock ExtensionBlock")
    out |= _pairs("pandas.core.arrays.categorical", "Categorical")
    out |= _pairs("pandas.core.arrays.datetimes", "DatetimeArray")
    out |= _pairs("pandas.core.arrays.string_", "StringArray StringDtype")
    out |= _pairs("pandas.core.dtypes.dtypes", "CategoricalDtype DatetimeTZDtype")
    out |= _pairs("pandas._libs.internals", "BlockPlacement")
    # joblib's array wrapper (the in-stream one; the companion-file ones are dangerous)
    out |= {("joblib.numpy_pickle", "NumpyArrayWrapper"),
            ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper")}
    # xgboost, lightgbm
    out |= _pairs("xgboost.core", "Booster")
    out |= _pairs("xgboost.sklearn", "XGBModel XGBClassifier XGBRegressor XGBRanker "
                  "XGBRFClassifier XGBRFRegressor")
    out |= _pairs("xgboost.compat", "XGBoostLabelEncoder")
    out |= _pairs("lightgbm.basic", "Booster")
    out |= _pairs("lightgbm.sklearn", "LGBMModel LGBMClassifier LGBMRegressor LGBMRanker")
    return frozenset(out)


CLASSES = _build_classes()

# Non-class callables real models call while unpickling.
FUNCTIONS = frozenset(
    {(core + ".multiarray", "_reconstruct") for core in _CORE}
    | {(core + ".multiarray", "scalar") for core in _CORE}
    | {(core + ".numeric", "_frombuffer") for core in _CORE}
    # numpy 1.x pickles a ufunc as _ufunc_reconstruct(module, name): an import plus a
    # getattr, so its arguments are checked like a global (see pickles.py).
    | {(core, "_ufunc_reconstruct") for core in _CORE}
    | {("numpy.ma.core", "_mareconstruct"),
       ("numpy.random._pickle", "__randomstate_ctor"),
       ("numpy.random._pickle", "__bit_generator_ctor"),
       ("numpy.random._pickle", "__generator_ctor"),
       ("numpy.random", "__RandomState_ctor"),  # numpy < 1.17
       ("copyreg", "_reconstructor"),
       ("_codecs", "encode"),  # protocol-2 bytes: _codecs.encode(text, "latin1")
       ("pandas._libs.internals", "_unpickle_block"),
       ("pandas.core.internals.blocks", "new_block"),
       ("pandas.core.internals.blocks", "make_block"),
       ("pandas.core.indexes.base", "_new_Index"),
       ("pandas.core.indexes.datetimes", "_new_DatetimeIndex"),
       ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
       ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"),
       ("pandas._libs.tslibs.nattype", "__nat_unpickle"),
       ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
       ("sklearn.tree._tree", "__pyx_unpickle_Tree"),
       ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
       # KDTree/BallTree/DistanceMetric.__reduce__: newObj(cls) == cls.__new__(cls)
       ("sklearn.neighbors._kd_tree", "newObj"),
       ("sklearn.neighbors._ball_tree", "newObj"),
       ("sklearn.neighbors._binary_tree", "newObj"),
       ("sklearn.neighbors._dist_metrics", "newObj"),
       ("sklearn.metrics._dist_metrics", "newObj"),
       ("sklearn.neighbors.kd_tree", "newObj"),
       ("sklearn.neighbors.ball_tree", "newObj"),
       ("sklearn.neighbors.dist_metrics", "newObj"),
       ("numpy.random._bit_generator", "__pyx_unpickle_SeedSequence"),
       }
)

# May be held by a model (e.g. FunctionTransformer(func=np.log1p)), never called on load.
# The modules numpy 1.x's _ufunc_reconstruct(module, name) may name.
UFUNC_MODULES = frozenset({"numpy", "numpy.core.umath", "numpy._core.umath",
                           "numpy.core._multiarray_umath", "numpy._core._multiarray_umath"})

REFERENCES = frozenset({(m, n) for m in UFUNC_MODULES for n in NUMPY_UFUNCS})

# --------------------------------------------------------------------------- dangerous

_DANGEROUS_MODULES = {
    "os": "runs commands and touches files",
    "posix": "runs commands and touches files",
    "nt": "runs commands and touches files",
    "subprocess": "runs commands",
    "pty": "runs commands",
    "commands": "runs commands",
    "popen2": "runs commands",
    "platform": "runs commands",
    "sys": "changes the interpreter",
    "importlib": "imports arbitrary modules",
    "imp": "imports arbitrary modules",
    "pkgutil": "imports arbitrary modules",
    "runpy": "runs arbitrary modules",
    "marshal": "builds code objects",
    "types": "builds code and function objects",
    "code": "runs code",
    "codeop": "compiles code",
    "ctypes": "calls native code",
    "_ctypes": "calls native code",
    "socket": "opens network connections",
    "shutil": "copies and deletes files",
    "tempfile": "creates files",
    "io": "opens files",
    "_io": "opens files",
    "pathlib": "reads and writes files",
    "pickle": "loads another pickle",
    "_pickle": "loads another pickle",
    "cPickle": "loads another pickle",
    "dill": "loads another pickle",
    "cloudpickle": "builds functions from code",
    "joblib.externals.cloudpickle": "builds functions from code",
    "webbrowser": "opens programs",
    "pdb": "runs code",
    "bdb": "runs code",
    "timeit": "runs code",
    "trace": "runs code",
    "profile": "runs code",
    "cProfile": "runs code",
    "multiprocessing": "starts processes",
    "concurrent": "starts processes",
    "threading": "starts threads",
    "_thread": "starts threads",
    "signal": "changes signal handling",
    "asyncio": "runs commands",
    "pydoc": "imports arbitrary modules",
    "numpy.f2py": "builds and imports native code",
    "numpy.distutils": "builds native code",
    "numpy.ctypeslib": "loads native libraries",
    "numpy.testing": "runs commands",
    "torch": "loads another pickle",
}

_DANGEROUS_GLOBALS = {
    ("builtins", "eval"): "runs code",
    ("builtins", "exec"): "runs code",
    ("builtins", "compile"): "compiles code",
    ("builtins", "getattr"): "reaches any attribute (e.g. os.system)",
    ("builtins", "setattr"): "changes any attribute",
    ("builtins", "delattr"): "changes any attribute",
    ("builtins", "__import__"): "imports arbitrary modules",
    ("builtins", "open"): "reads and writes files",
    ("builtins", "input"): "reads the terminal",
    ("builtins", "breakpoint"): "runs a debugger",
    ("builtins", "globals"): "reaches interpreter state",
    ("builtins", "locals"): "reaches interpreter state",
    ("builtins", "vars"): "reaches interpreter state",
    ("builtins", "type"): "builds classes",
    ("builtins", "help"): "runs a pager",
    ("builtins", "exit"): "exits the interpreter",
    ("builtins", "quit"): "exits the interpreter",
    ("functools", "partial"): "calls anything later",
    ("functools", "partialmethod"): "calls anything later",
    ("functools", "reduce"): "calls anything",
    ("operator", "attrgetter"): "reaches any attribute",
    ("operator", "itemgetter"): "reaches any item",
    ("operator", "methodcaller"): "calls any method",
    ("operator", "getitem"): "reaches any item",
    ("operator", "call"): "calls anything",
    ("copyreg", "__newobj__"): "constructs any class",
    ("joblib", "load"): "loads another pickle",
    ("joblib.numpy_pickle", "load"): "loads another pickle",
    ("joblib.numpy_pickle", "NumpyUnpickler"): "loads another pickle",
    ("joblib.numpy_pickle", "load_compatibility"): "loads another pickle",
    ("joblib.numpy_pickle_compat", "load_compatibility"): "loads another pickle",
    ("joblib.numpy_pickle_compat", "NDArrayWrapper"):
        "loads a companion file with allow_pickle=True (joblib < 0.10 format)",
    ("joblib.numpy_pickle_compat", "ZNDArrayWrapper"):
        "reads a companion file (joblib < 0.10 format)",
    ("sklearn.externals.joblib", "load"): "loads another pickle",
    ("numpy", "load"): "loads another pickle (allow_pickle)",
    ("numpy.lib.npyio", "load"): "loads another pickle (allow_pickle)",
    ("numpy.lib._npyio_impl", "load"): "loads another pickle (allow_pickle)",
    ("numpy.lib.format", "read_array"): "loads another pickle (allow_pickle)",
    ("numpy", "memmap"): "maps and writes files",
    ("numpy.core.memmap", "memmap"): "maps and writes files",
    ("numpy._core.memmap", "memmap"): "maps and writes files",
    ("numpy", "fromfile"): "reads files",
    ("numpy", "tofile"): "writes files",
    ("numpy", "save"): "writes files",
    ("numpy", "savez"): "writes files",
    ("numpy", "savetxt"): "writes files",
    ("numpy", "loadtxt"): "reads files",
    ("numpy", "genfromtxt"): "reads files",
    ("numpy", "vectorize"): "calls anything later",
    ("numpy", "frompyfunc"): "calls anything later",
    ("pandas", "read_pickle"): "loads another pickle",
    ("pandas.io.pickle", "read_pickle"): "loads another pickle",
    ("pandas", "eval"): "evaluates expressions",
    ("pandas.core.computation.eval", "eval"): "evaluates expressions",
    ("scipy.io", "loadmat"): "reads files",
}


def _module_danger(module: str) -> Optional[str]:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        reason = _DANGEROUS_MODULES.get(".".join(parts[:i]))
        if reason is not None:
            return reason
    return None


def danger(module: str, name: str) -> Optional[str]:
    """Why importing ``module.name`` is known to be dangerous, or None."""
    if module == "__builtin__":  # Python 2 spelling of builtins, protocol >= 3
        module = "builtins"
    reason = _DANGEROUS_GLOBALS.get((module, name))
    if reason is None:
        reason = _module_danger(module)
    return reason


def kind(module: str, name: str) -> Optional[str]:
    """"class", "function" or "reference" when allowlisted, else None."""
    key = (module, name)
    if key in CLASSES:
        return "class"
    if key in FUNCTIONS:
        return "function"
    if key in REFERENCES:
        return "reference"
    return None


if __name__ == "__main__":  # pragma: no cover - dev-time regeneration of _SKLEARN
    import importlib
    import inspect
    import json
    import pkgutil
    import warnings

    warnings.simplefilter("ignore")
    import sklearn

    skip = ("tests", "_testing", "externals", "datasets", "conftest", "_build_utils",
            "__check_build", "experimental", "_show_versions", "estimator_checks")
    found: dict = {}
    for info in pkgutil.walk_packages(sklearn.__path__, "sklearn."):
        if any(part in skip for part in info.name.split(".")):
            continue
        try:
            mod = importlib.import_module(info.name)
        except Exception:
            continue
        for value in vars(mod).values():
            if (inspect.isclass(value) and value.__module__ == info.name
                    and "." not in value.__qualname__):
                found.setdefault(info.name, set()).add(value.__qualname__)
    print(json.dumps({k: " ".join(sorted(v)) for k, v in sorted(found.items())}, indent=1))
