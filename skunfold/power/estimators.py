"""Power-allocation estimators: the shared base and UnfoldedWMMSE (UWMMSE).

Both power-allocation estimators (:class:`~skunfold.power.WMMSE`, in
``classical.py``, and :class:`UnfoldedWMMSE`) are optimizers as estimators:
``X`` holds channel realisations, there are no labels (``y`` is ignored),
``predict`` returns the powers that the solver allocates, and ``score`` is
the mean sum rate (bit/s/Hz), higher is better. They are presets of
:class:`~skunfold.core.UnfoldedEstimator` on the
:class:`~skunfold.power.PowerAllocation` problem, built on
:class:`PowerAllocationEstimator`.
"""

import math

import numpy as np
from sklearn.utils.validation import check_array, validate_data

from ..core import Optimizer, Param, UnfoldedEstimator, constraints, set_init_parameters
from .problem import DEFAULT_NOISE_VAR, PowerAllocation

__all__ = ["PowerAllocationEstimator", "UnfoldedWMMSE", "PAPER_MAX_GRAD_NORM"]

_PARADIGMS = ("classical", "hyperparameters", "correction")

#: Gradient-norm clipping of UWMMSE's training (the paper's 5): ``optimizer=None``.
PAPER_MAX_GRAD_NORM = 5.0

#: The parameters of the problem, shared by every power-allocation estimator.
_PROBLEM_ROWS = {
    "p_max": Param(constraints.real(0, strict_min=True), "float", """
        Power budget of every transmitter (``p_max > 0``)."""),
    "noise_var": Param(constraints.real(0, strict_min=True), "float", """
        Noise power at every receiver; the default is ``DEFAULT_NOISE_VAR``,
        ``10**-9.1`` (-91 dB, about 7.94e-10: the UWMMSE paper's value for
        the gains of :func:`~skunfold.datasets.make_interference_network`)."""),
}


class PowerAllocationEstimator(UnfoldedEstimator):
    """Data handling and inference API shared by the power-allocation estimators.

    ``X`` is a stack of channel matrices ``(n_samples, M, M)`` of non-negative
    amplitude gains, ``X[b, j, i]`` from transmitter ``j`` to receiver ``i``,
    or the same flattened row by row, ``(n_samples, M * M)`` with
    ``X[b, j * M + i]`` (a feature table, e.g. a DataFrame). ``y`` is ignored:
    the models maximise the sum rate, ``score`` is the mean sum rate and
    :meth:`sum_rates` that of every channel. The parameter rows of ``p_max``
    and ``noise_var`` are shared by the presets.
    """

    parameter_table = _PROBLEM_ROWS
    paradigms = _PARADIGMS

    # -- hooks of the core ------------------------------------------------------------
    def validate_input(self, X, *, reset):
        """Validate channels ``X`` and return them as a stack ``(n_samples, M, M)``.

        3-D ``X`` may have any number of pairs ``M`` after ``fit`` (the models
        are size free); 2-D (flattened) ``X`` is a feature table and must have
        the ``M * M`` columns seen in ``fit``, so a DataFrame's columns are
        checked as scikit-learn does. ``n_features_in_`` is ``M * M``, the
        entries of one channel. Raises ``ValueError`` for non-square channels,
        negative or non-finite gains and other dimensions.
        """
        X = constraints.check_input_ndim(X, self)
        ndim = constraints.array_ndim(X)
        if ndim == 2 or hasattr(X, "tocsr") or hasattr(X, "columns"):
            X = validate_data(self, X, reset=True, dtype=[np.float64, np.float32]) if reset \
                else constraints.check_fitted_input(self, X)
            n_pairs = math.isqrt(X.shape[1])
            if n_pairs * n_pairs != X.shape[1]:
                raise ValueError(
                    f"X has {X.shape[1]} features per sample, which is not the M * M entries "
                    "of a channel matrix of M pairs (a square number); pass channels as a "
                    "3-D array (n_samples, M, M) or flattened to (n_samples, M * M)")
            X = X.reshape(len(X), n_pairs, n_pairs)
        elif ndim == 3:
            if not constraints.is_clean_array(X):
                X = check_array(X, allow_nd=True, dtype=[np.float64, np.float32], input_name="X")
            if X.shape[1] != X.shape[2]:
                raise ValueError(
                    f"X must hold square channel matrices (n_samples, M, M), H[b, j, i] the "
                    f"gain from transmitter j to receiver i; got shape {X.shape}")
            if reset:
                self.n_features_in_ = X.shape[1] * X.shape[2]
                self.__dict__.pop("feature_names_in_", None)
        else:
            raise ValueError(
                f"X must be a stack of channel matrices (n_samples, M, M) or their flattened "
                f"rows (n_samples, M * M); got a {ndim}-D array of shape {np.shape(X)}")
        if X.shape[1] == 0:
            raise ValueError("X holds empty channel matrices (0 pairs)")
        if np.any(X < 0):
            raise ValueError("Negative values in data passed to X: channel gains are "
                             "non-negative amplitudes (H[b, j, i] from transmitter j to "
                             "receiver i)")
        if reset:
            self.n_pairs_ = int(X.shape[1])
        return X

    def validate_target(self, y, X):
        """Targets are ignored: power allocation is trained on the sum rate (no labels)."""
        return None

    def build_problem(self, X, y):
        """The :class:`~skunfold.power.PowerAllocation` problem of ``p_max`` and ``noise_var``."""
        return PowerAllocation(p_max=self.p_max, noise_var=self.noise_var)

    # -- public API ---------------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit the estimator (train it, or only validate the data when classical).

        Parameters
        ----------
        X : array-like of shape (n_samples, M, M) or (n_samples, M * M)
            Channel realisations (amplitude gains, ``X[b, j, i]`` from
            transmitter ``j`` to receiver ``i``), or a
            :class:`~skunfold.core.SampleSource` of them (fresh channels every
            epoch; ``supervised=False``).
        y : None
            Ignored (training maximises the sum rate; there are no labels).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return super().fit(X, None)

    def sum_rates(self, X, powers=None):
        """Sum rate (bit/s/Hz) of each channel at ``powers`` (default: the predicted ones).

        The same value as ``skunfold.metrics.sum_rate(X, powers, noise_var,
        gains="amplitude")``, computed in float64 by the problem's objective.

        Parameters
        ----------
        X : array-like of shape (n_samples, M, M) or (n_samples, M * M)
        powers : array-like of shape (n_samples, M), optional

        Returns
        -------
        rates : ndarray of shape (n_samples,)
        """
        X = self.validate_input(X, reset=False)
        if powers is None:
            powers = self.iterate(X)
        powers = check_array(powers, dtype=np.float64, input_name="powers")
        if powers.shape != X.shape[:2]:
            raise ValueError(f"powers must have shape {X.shape[:2]} (n_samples, M), got "
                             f"{powers.shape}")
        if np.any(powers < 0):
            raise ValueError("powers must be non-negative")
        return self.objective_values(X, powers)

    def score(self, X, y=None, sample_weight=None):
        """Mean sum rate (bit/s/Hz) of the predicted powers: higher is better.

        The core's score without targets (the mean objective, maximised here);
        ``y`` is ignored, as there are no labels to compare with (the core's
        R² would need them).

        Parameters
        ----------
        X : array-like of shape (n_samples, M, M) or (n_samples, M * M)
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        return super().score(X, None, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.positive_only = True
        tags.target_tags.required = False
        return tags


class UnfoldedWMMSE(PowerAllocationEstimator):
    r"""WMMSE unfolded into ``n_layers`` trainable layers: UWMMSE and its variants.

    Each layer is one WMMSE iteration (see :class:`~skunfold.power.WMMSE`).
    Training is unsupervised: it maximises the mean sum rate of the last
    layer's powers over the training channels (the loss is its negative).
    What is learned depends on ``paradigm``:

    =============== ==============================================================
    paradigm        learned per layer
    =============== ==============================================================
    classical       nothing: :class:`~skunfold.power.WMMSE` run for ``n_layers``
                    iterations
    hyperparameters three scalars: ``mu`` (added to the denominator of the
                    amplitude update), a shift of the MSE weights
                    :math:`\hat w = w + \beta` (:math:`|\beta| < 1/2`) and a relaxation
                    step :math:`v \leftarrow \hat v + (\gamma - 1)(\hat v - v)`
                    (:math:`1/10 < \gamma < 10`)
    correction      UWMMSE (Chowdhury et al. 2021): ``mu`` and two graph
                    convolutional networks (shift operator: the channel
                    divided by the geometric mean of its direct links;
                    input: each node's :math:`\log w`; ``hidden_layer_sizes``
                    hidden ReLU units) giving per node :math:`a_i = 2 \sigma(\cdot)`
                    and :math:`\beta_i = \sigma(\cdot) - 1/2`:
                    :math:`\hat w_i = a_i (w_i + \beta_i)`
    =============== ==============================================================

    Every model starts from WMMSE: the networks' last layers, ``mu`` and
    ``beta`` start at zero and ``a`` and ``gamma`` at one (the paper's GNNs end
    in a sigmoid, ``a, b`` in ``(0, 1)``; here ``a`` is twice a sigmoid and
    :math:`b = a \beta`, so that the untrained layer is WMMSE's exactly and
    ``w_hat`` stays positive). An untrained model (``max_epochs=0``) thus
    computes ``WMMSE(n_layers=n_layers)``, layer by layer. With
    ``hidden_layer_sizes=(5,)`` a correction layer has 53 parameters
    (2 GNNs x 26 and ``mu``), 212 for the paper's 4 layers.

    The GNNs' weights are shared by the nodes, so the model is permutation
    equivariant (permuting the pairs of a channel permutes its powers) and a
    model trained on networks of ``M`` pairs runs on networks of any other
    size: pass them as 3-D arrays.

    ``X``, ``predict`` and ``score`` are those of
    :class:`~skunfold.power.WMMSE`: channels ``(n_samples, M, M)`` of
    non-negative amplitude gains ``X[b, j, i]`` from transmitter ``j`` to
    receiver ``i`` (or flattened to ``(n_samples, M * M)``), the powers
    ``(n_samples, M)`` in ``[0, p_max]`` in the precision of ``X``, and the
    mean sum rate (bit/s/Hz; ``y`` is ignored).

    Parameters
    ----------
    n_layers : int, default=4
        Depth ``K``.
    paradigm : {"correction", "hyperparameters", "classical"}, default="correction"
        What is learned (see the table above).
    tied : bool or None, default=None
        Share one layer's parameters by every layer (a tied model runs at any
        depth); ``None``: untied, as in the paper.
    %(parameters)s

    Attributes
    ----------
    module_ : UnfoldedModule
        The fitted network (``net_.module_`` when trained).
    problem_ : PowerAllocation
        The fitted problem.
    net_ : UnfoldingNet or None
        The trained skorch net (``None`` for ``paradigm="classical"``).
    history_ : skorch.History or None
        Per-epoch training losses (minus the mean sum rate).
    layer_parameters_ : dict of str to ndarray
        Per layer (column ``"layer"``, ``1..n_layers``) the hyperparameters of
        :class:`~skunfold.power.PowerAllocation`: ``mu``, ``weight_offset``
        :math:`= \beta + 1/2` (the shift of the MSE weights) and ``relaxation``
        ``r`` (the step :math:`\gamma = 10^{2 r - 1}`, see
        :meth:`PowerAllocation.relaxation_step
        <skunfold.power.PowerAllocation.relaxation_step>`): learned for
        ``"hyperparameters"``, WMMSE's ``0, 1/2, 1/2`` for ``"classical"``;
        for ``"correction"`` the learned ``mu``, NaN for ``weight_offset``
        (the GNNs correct the weights per node) and ``1/2``.
    paradigm_ : str
        The paradigm fitted (``"classical"`` when nothing was trained).
    n_pairs_ : int
        ``M`` of the training channels.
    n_features_in_ : int
        ``M * M``, the entries of one channel.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Defined only when ``X`` is a DataFrame.

    See Also
    --------
    WMMSE : The classical solver.
    skunfold.datasets.make_interference_network : The paper's channels.

    References
    ----------
    .. [1] A. Chowdhury, G. Verma, C. Rao, A. Swami, S. Segarra, "Unfolding
       WMMSE using graph neural networks for efficient power allocation",
       IEEE Trans. Wireless Commun., 2021.
    .. [2] Q. Shi, M. Razaviyayn, Z.-Q. Luo, C. He, "An iteratively weighted
       MMSE approach to distributed sum-utility maximization for a MIMO
       interfering broadcast channel", IEEE Trans. Signal Process., 2011.

    Examples
    --------
    >>> from skunfold.datasets import make_interference_network
    >>> from skunfold.power import UnfoldedWMMSE, WMMSE
    >>> H, _ = make_interference_network(n_samples=1000, n_pairs=10, topology_random_state=0,
    ...                                  random_state=0)
    >>> H_test, _ = make_interference_network(n_samples=500, n_pairs=10,
    ...                                       topology_random_state=0, random_state=1)
    >>> uwmmse = UnfoldedWMMSE(n_layers=2, max_epochs=4, random_state=0).fit(H)
    >>> wmmse = WMMSE(n_layers=2).fit(H)
    >>> bool(uwmmse.score(H_test) > wmmse.score(H_test))
    True
    >>> uwmmse.predict(H_test).shape
    (500, 10)
    >>> list(uwmmse.layer_parameters_)
    ['layer', 'mu', 'weight_offset', 'relaxation']
    """

    supports = ("training", "unsupervised", "variable_input_shape")
    default_lr = {"hyperparameters": 1e-2, None: 1e-3}
    default_optimizer = Optimizer(max_grad_norm=PAPER_MAX_GRAD_NORM)
    parameter_table = {
        "hidden_layer_sizes": Param(constraints.layer_sizes(), "tuple of int", """
            Hidden widths of each of the two GNNs of a layer
            (``"correction"``; the paper's ``(5,)``)."""),
        "lr": Param(constraints.real(0, strict_min=True, allow_none=True), "float or None", """
            Learning rate (``None``: 1e-3 for ``"correction"``, as in the
            paper, and 1e-2 for ``"hyperparameters"``)."""),
        "optimizer": Param(None, "str, torch.optim.Optimizer class, Optimizer or None", """
            ``None``: the paper's Adam with the global norm of the gradient
            clipped to 5, ``Optimizer(max_grad_norm=5.0)``. Otherwise
            ``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"``, a
            :class:`torch.optim.Optimizer` class (no clipping), or an
            :class:`~skunfold.core.Optimizer`, which also sets the
            learning-rate decay within a stage and the clipping (e.g.
            ``Optimizer(lr_schedule="cosine", max_grad_norm=5.0)``)."""),
    }

    def __init__(self, n_layers=4, *, paradigm="correction", p_max=1.0,
                 noise_var=DEFAULT_NOISE_VAR, hidden_layer_sizes=(5,), tied=None,
                 loss_schedule="end_to_end", max_epochs=20, lr=None, batch_size=64,
                 optimizer=None, early_stopping=False, device="auto", n_threads=None,
                 keep_best=True, warm_start=False, random_state=None, verbose=0):
        set_init_parameters(self, locals())
