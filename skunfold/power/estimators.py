"""Power-allocation estimators: WMMSE (classical) and UnfoldedWMMSE (UWMMSE).

Both are optimizers as estimators: ``X`` holds channel realisations, there
are no labels (``y`` is ignored), ``predict`` returns the powers that the
solver allocates, and ``score`` is the mean sum rate (bit/s/Hz), higher is
better. They are presets of :class:`~skunfold.core.UnfoldedEstimator` on the
:class:`~skunfold.power.PowerAllocation` problem.
"""

import math

import numpy as np
import torch
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ..core import (
    HyperparameterIteration,
    UnfoldedEstimator,
    check_layer_sizes,
    document_parameters,
    set_init_parameters,
)
from ..core.constraints import array_ndim, check_input_ndim, real
from .iterations import UWMMSELayer
from .problem import DEFAULT_NOISE_VAR, PowerAllocation

__all__ = ["PowerAllocationMixin", "WMMSE", "UnfoldedWMMSE"]

_PARADIGMS = ("classical", "hyperparameters", "correction")


def _check_tied(value, name):
    if value not in (None, True, False):
        raise TypeError(f"{name} must be None or a bool, got {value!r}")
    return value


class PowerAllocationMixin:
    """Data handling and inference API shared by the power-allocation estimators.

    ``X`` is a stack of channel matrices ``(n_samples, M, M)`` of non-negative
    amplitude gains, ``X[b, j, i]`` from transmitter ``j`` to receiver ``i``,
    or the same flattened row by row, ``(n_samples, M * M)`` with
    ``X[b, j * M + i]`` (a feature table, e.g. a DataFrame).
    """

    parameter_constraints = {
        "p_max": real(0, strict_min=True),
        "noise_var": real(0, strict_min=True),
        "hidden_layer_sizes": lambda v, name: check_layer_sizes(v, name),
        "tied": _check_tied,
    }
    paradigms = _PARADIGMS
    variable_input_shape = True

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
        X = check_input_ndim(X, self)
        ndim = array_ndim(X)
        if ndim == 2 or hasattr(X, "tocsr") or hasattr(X, "columns"):
            X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
            n_pairs = math.isqrt(X.shape[1])
            if n_pairs * n_pairs != X.shape[1]:
                raise ValueError(
                    f"X has {X.shape[1]} features per sample, which is not the M * M entries "
                    "of a channel matrix of M pairs (a square number); pass channels as a "
                    "3-D array (n_samples, M, M) or flattened to (n_samples, M * M)")
            X = X.reshape(len(X), n_pairs, n_pairs)
        elif ndim == 3:
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

    # -- public inference API -----------------------------------------------------------
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

    def predict(self, X):
        """Transmit powers allocated to every pair of every channel.

        Parameters
        ----------
        X : array-like of shape (n_samples, M, M) or (n_samples, M * M)
            Channels; with 3-D input ``M`` may differ from the training
            networks'.

        Returns
        -------
        powers : ndarray of shape (n_samples, M)
            In ``[0, p_max]``, in the precision of ``X``.
        """
        return self.iterate(X)

    def staged_predict(self, X, n_layers=None):
        """Yield the powers after each layer (iteration) ``k = 1, ..., n_layers``.

        Parameters
        ----------
        X : array-like of shape (n_samples, M, M) or (n_samples, M * M)
        n_layers : int, optional
            Depth to run (default: the fitted depth; the classical solver runs
            any depth, an unfolded model at most its number of layers).

        Yields
        ------
        powers : ndarray of shape (n_samples, M)
        """
        yield from self.staged_iterate(X, n_layers)

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
        return float(np.average(self.sum_rates(X), weights=sample_weight))

    # -- fitted parameters -------------------------------------------------------------------
    @property
    def layer_hyperparameters_(self):
        """The scalars of each layer: ``mu``, ``weight_shift`` and ``relaxation``.

        ``weight_shift`` is ``beta`` of the shifted MSE weights
        ``w_hat = w + beta`` and ``relaxation`` the step ``gamma`` of
        ``v <- v_hat + (gamma - 1) (v_hat - v)`` (see
        :class:`~skunfold.power.PowerAllocation`). Returns a dict of arrays of
        shape ``(n_layers,)``: learned values for
        ``paradigm="hyperparameters"``, the classical ``0, 0, 1`` where nothing
        is learned; for ``paradigm="correction"`` the learned ``mu``, NaN for
        ``weight_shift`` (the GNNs correct the weights per node) and 1.
        """
        check_is_fitted(self)
        module = self.module_
        out = {"mu": [], "weight_shift": [], "relaxation": []}
        with torch.no_grad():
            for k in range(module.n_layers):
                layer = module.iteration(k)
                if isinstance(layer, HyperparameterIteration):
                    values = layer.hyperparameters(module.problem, k)
                elif isinstance(layer, UWMMSELayer):
                    values = {"mu": layer.mu, "weight_offset": np.nan, "relaxation": 0.5}
                else:
                    values = module.problem.layer_hyperparameters(k)
                out["mu"].append(float(values["mu"]))
                out["weight_shift"].append(float(values["weight_offset"]) - 0.5)
                out["relaxation"].append(
                    float(module.problem.relaxation_step(float(values["relaxation"]))))
        return {name: np.asarray(v) for name, v in out.items()}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.positive_only = True
        tags.target_tags.required = False
        return tags


_PROBLEM_DOC = """
    p_max : float, default=1.0
        Power budget of every transmitter (``p_max > 0``).
    noise_var : float, default=DEFAULT_NOISE_VAR
        Noise power at every receiver, ``10**-9.1`` (-91 dB, about 7.94e-10:
        the UWMMSE paper's value for the gains of
        :func:`~skunfold.datasets.make_interference_network`).
"""

_DATA_DOC = """
    ``X`` holds channels of ``M`` transmitter-receiver pairs, a 3-D array
    ``(n_samples, M, M)`` of non-negative *amplitude* gains, ``X[b, j, i]``
    from transmitter ``j`` to receiver ``i`` (the layout of
    :func:`~skunfold.datasets.make_interference_network`), or the same
    flattened to ``(n_samples, M * M)``. ``predict`` returns the powers
    ``(n_samples, M)``, in ``[0, p_max]``; ``score`` is the mean sum rate
    ``sum_i log2(1 + SINR_i)`` (bit/s/Hz), the mean of
    ``skunfold.metrics.sum_rate(X, powers, noise_var, gains="amplitude")``.
    Computations are in float64 (the noise power is tiny); outputs come back
    in the precision of ``X``.
"""

_FITTED_DOC = """
    n_pairs_ : int
        ``M`` of the training channels.
    n_features_in_ : int
        ``M * M``, the entries of one channel.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when ``X`` is a DataFrame.
"""


@document_parameters
class WMMSE(PowerAllocationMixin, UnfoldedEstimator):
    __doc__ = """The scalar WMMSE power allocation of Shi et al. (2011); nothing is learned.

    From full power, every iteration computes the receivers
    ``u_i = H_ii v_i / (sigma^2 + sum_j H_ji^2 v_j^2)``, the MSE weights
    ``w_i = 1 / (1 - u_i H_ii v_i)`` and the transmit amplitudes
    ``v_i = clip(H_ii u_i w_i / sum_j H_ij^2 u_j^2 w_j, 0, sqrt(p_max))``; the
    powers are ``v_i^2``. It converges to a stationary point of the sum
    rate. ``fit`` only validates the data; :class:`UnfoldedWMMSE` is the
    same iteration unfolded and trained.
""" + _DATA_DOC + """
    Parameters
    ----------
    n_layers : int, default=100
        Number of iterations.""" + _PROBLEM_DOC + """    %(training_parameters)s
    Attributes
    ----------
    module_ : UnfoldedModule
        The solver as a torch module.
    problem_ : PowerAllocation
        The fitted problem.""" + _FITTED_DOC + """
    See Also
    --------
    UnfoldedWMMSE : WMMSE unfolded, with learned corrections (UWMMSE).
    skunfold.metrics.sum_rate : The sum rate of given powers.

    References
    ----------
    .. [1] Q. Shi, M. Razaviyayn, Z.-Q. Luo, C. He, "An iteratively weighted
       MMSE approach to distributed sum-utility maximization for a MIMO
       interfering broadcast channel", IEEE Trans. Signal Process., 2011.

    Examples
    --------
    >>> from skunfold.datasets import make_interference_network
    >>> from skunfold.power import WMMSE
    >>> H, _ = make_interference_network(n_samples=200, n_pairs=10, random_state=0)
    >>> wmmse = WMMSE(n_layers=100).fit(H)
    >>> wmmse.predict(H).shape
    (200, 10)
    >>> rates = [WMMSE(n_layers=k).fit(H).score(H) for k in (1, 10, 100)]
    >>> bool(rates[0] < rates[1] < rates[2])
    True
    """

    paradigm = "classical"

    def __init__(self, n_layers=100, *, p_max=1.0, noise_var=DEFAULT_NOISE_VAR, device="auto",
                 n_threads=None):
        set_init_parameters(self, locals())


@document_parameters(lr="""
        Learning rate of Adam (``None``: 1e-3 for ``"correction"``, as in
        the paper, and 1e-2 for ``"hyperparameters"``).""", max_grad_norm="""
        Clip the global norm of the gradient to this value before every
        step (the paper's 5; ``None``: no clipping).""", batch_size="""
        Channels per mini-batch (the paper's 64; ``-1``: all).""")
class UnfoldedWMMSE(PowerAllocationMixin, UnfoldedEstimator):
    __doc__ = """WMMSE unfolded into ``n_layers`` trainable layers: UWMMSE and its variants.

    Each layer is one WMMSE iteration (see :class:`WMMSE`). Training is
    unsupervised: it maximises the mean sum rate of the last layer's powers
    over the training channels (the loss is its negative). What is learned
    depends on ``paradigm``:

    =============== ==============================================================
    paradigm        learned per layer
    =============== ==============================================================
    classical       nothing: :class:`WMMSE` run for ``n_layers`` iterations
    hyperparameters three scalars: ``mu`` (added to the denominator of the
                    amplitude update), a shift of the MSE weights
                    ``w_hat = w + beta`` (``|beta| < 1/2``) and a relaxation
                    step ``v <- v_hat + (gamma - 1)(v_hat - v)`` (``1/10 <
                    gamma < 10``)
    correction      UWMMSE (Chowdhury et al. 2021): ``mu`` and two graph
                    convolutional networks (shift operator: the channel
                    divided by the geometric mean of its direct links;
                    input: each node's ``log w``; ``hidden_layer_sizes``
                    hidden ReLU units) giving per node ``a_i = 2 sigmoid(.)``
                    and ``beta_i = sigmoid(.) - 1/2``:
                    ``w_hat_i = a_i (w_i + beta_i)``
    =============== ==============================================================

    Every model starts from WMMSE: the networks' last layers, ``mu`` and
    ``beta`` start at zero and ``a`` and ``gamma`` at one (the paper's GNNs end
    in a sigmoid, ``a, b`` in ``(0, 1)``; here ``a`` is twice a sigmoid and
    ``b = a beta``, so that the untrained layer is WMMSE's exactly and
    ``w_hat`` stays positive). An untrained model (``max_epochs=0``) thus
    computes ``WMMSE(n_layers=n_layers)``, layer by layer. With
    ``hidden_layer_sizes=(5,)`` a correction layer has 65 parameters
    (2 GNNs x 32 and ``mu``), 260 for the paper's 4 layers.

    The GNNs' weights are shared by the nodes, so the model is permutation
    equivariant (permuting the pairs of a channel permutes its powers) and a
    model trained on networks of ``M`` pairs runs on networks of any other
    size: pass them as 3-D arrays.
""" + _DATA_DOC + """
    Parameters
    ----------
    n_layers : int, default=4
        Depth ``K``.
    paradigm : {"correction", "hyperparameters", "classical"}, default="correction"
""" + _PROBLEM_DOC + """    hidden_layer_sizes : tuple of int, default=(5,)
        Hidden widths of each GNN (``"correction"``).
    tied : bool or None, default=None
        Share one layer's parameters by every layer (a tied model runs at any
        depth); ``None``: untied, as in the paper.
    %(training_parameters)s
    Attributes
    ----------
    module_ : UnfoldedModule
        The fitted network (``net_.module_`` when trained).
    problem_ : PowerAllocation
        The fitted problem.
    net_ : UnfoldingNet or None
        The trained skorch net (``None`` for ``paradigm="classical"``).
    history_ : skorch.History or None
        Per-epoch training losses (minus the mean sum rate).""" + _FITTED_DOC + """
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
    """

    default_lr = {"hyperparameters": 1e-2, None: 1e-3}

    def __init__(self, n_layers=4, *, paradigm="correction", p_max=1.0,
                 noise_var=DEFAULT_NOISE_VAR, hidden_layer_sizes=(5,), tied=None,
                 loss_schedule="end_to_end", max_epochs=20, lr=None, lr_schedule="constant",
                 max_grad_norm=5.0, batch_size=64, optimizer="adam", early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, device="auto", n_threads=None,
                 warm_start=False, random_state=None, verbose=0):
        set_init_parameters(self, locals())
