"""The hybrid-precoding estimators' channel handling and public API (shared by both).

Every sample is a stack of channel matrices: ``X`` is ``(n_samples, B, N, M)``
(``B`` bands, ``N`` users, ``M`` antennas), or 3-D / 2-D for one band / one
band and one user. The hooks of :class:`~skunfold.core.UnfoldedEstimator`
(:meth:`validate_input`, :meth:`build_problem`) turn every layout into the
4-D stack and build a :class:`~skunfold.beamforming.HybridPrecoding`; the
public methods (:meth:`predict`, :meth:`decompose`, :meth:`score`, ...) run the
fitted module through the core's ``iterate`` / ``staged_iterate`` and
``objective_values``.
"""

import copy
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ..core import Param, SampleSource, constraints, to_numpy, to_tensor
from .iterations import restore_classical
from .problem import ANALOG_CONSTRAINTS, HybridPrecoding

__all__ = ["HybridPrecodingMixin"]

_LAYOUT = {2: "(n_samples, n_antennas)", 3: "(n_samples, n_users, n_antennas)",
           4: "(n_samples, n_bands, n_users, n_antennas)"}


#: The rows of the parameters every hybrid-precoding estimator takes.
_SHARED_ROWS = {
    "n_rf_chains": Param(constraints.integer(1), "int", r"""
        RF chains ``L`` (columns of the analog precoder), :math:`1 \le L \le M`."""),
    "step_size": Param(constraints.real(0, strict_min=True), "float", r"""
        The classical step size of every update (:math:`\mu_a` and every
        :math:`\mu_{d,b}`); the initial value of the learned ones."""),
    "analog_constraint": Param(constraints.options("unit_modulus", allow_none=True),
                               '{"unit_modulus", None}', r"""
        ``"unit_modulus"``: the analog precoder is a network of phase
        shifters, every entry of modulus :math:`1/\sqrt{M}` (the paper's hybrid
        model; the normalisation gives its columns unit norm, so that the
        step sizes have the same scale in both models), projected onto after
        every analog step. ``None``: no constraint on :math:`W_a` beyond the power
        budget (the authors' public code)."""),
}


class HybridPrecodingMixin:
    """Channel handling and the public API shared by the hybrid-precoding estimators.

    ``X`` is a stack of channels: ``(n_samples, B, N, M)`` (``B`` bands, ``N``
    users, ``M`` antennas), ``(n_samples, N, M)`` (one band) or
    ``(n_samples, M)`` (one band and one user: each row a channel vector).
    Outputs follow the layout of the input.

    Examples
    --------
    >>> from skunfold.datasets import make_wideband_channels
    >>> from skunfold.beamforming import HybridPGA
    >>> H = make_wideband_channels(10, n_bands=1, n_users=1, n_antennas=4, random_state=0)
    >>> pga = HybridPGA(n_layers=5, n_rf_chains=2, random_state=0)
    >>> pga.fit(H[:, 0, 0]).predict(H[:, 0, 0]).shape   # one beamforming vector per row
    (10, 4)
    >>> pga.channel_shape_
    (1, 1, 4)
    """

    parameter_table = _SHARED_ROWS

    # -- hooks of the core ---------------------------------------------------------------
    def validate_input(self, X, *, reset):
        """Validate channels ``X`` (2-D, 3-D or 4-D, real or complex) and return them 4-D.

        With ``reset=True`` (in ``fit``) the channel shape, ``n_features_in_``
        (the size of the second axis) and whether the channels are complex
        are recorded. Otherwise ``X`` must have the fitted ``(B, N, M)``;
        real channels given to a model fitted on complex ones are taken as
        complex, complex channels given to a model fitted on real ones are
        an error (its precoders are real).
        """
        ndim = constraints.array_ndim(X)
        if ndim is None:
            raise ValueError("X must be a stack of channels of one shape, "
                             f"{_LAYOUT[4]}; its samples have different shapes")
        constraints.check_input_ndim(X, self)
        if ndim > 4:
            raise ValueError(f"X must be a stack of channels {_LAYOUT[4]} (or {_LAYOUT[3]} for "
                             f"one band, {_LAYOUT[2]} for one band and one user); got a "
                             f"{ndim}-D array of shape {np.shape(X)}")
        is_complex = not hasattr(X, "tocsr") and np.iscomplexobj(X)
        if ndim == 2 and not is_complex:
            X = validate_data(self, X, reset=True, dtype=[np.float64, np.float32]) if reset \
                else constraints.check_fitted_input(self, X)
        else:
            if is_complex:
                X = constraints.check_complex_array(X, "X", min_ndim=2)
            else:
                X = check_array(X, allow_nd=True, dtype=[np.float64, np.float32],
                                input_name="X")
            if reset:
                self.n_features_in_ = X.shape[1]
                self.__dict__.pop("feature_names_in_", None)
            elif ndim == 2 and X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                                 f"expecting {self.n_features_in_} features as input.")
        if 0 in X.shape:
            raise ValueError(f"X holds empty channels (shape {X.shape}); every channel needs at "
                             "least one band, user and antenna")
        X = X.reshape(X.shape[:1] + (1,) * (4 - ndim) + X.shape[1:])
        if reset:
            self.channel_shape_ = tuple(int(s) for s in X.shape[1:])
            self.complex_channels_ = bool(is_complex)
            self._bf_check_samples(len(X))
            return X
        if X.shape[1:] != tuple(self.channel_shape_):
            raise ValueError(
                f"X holds channels of shape (B, N, M) = {X.shape[1:]}, but "
                f"{type(self).__name__} was fitted on channels of shape "
                f"{tuple(self.channel_shape_)}")
        if is_complex and not self.complex_channels_:
            raise ValueError(f"{type(self).__name__} was fitted on real channels (its precoders "
                             "are real) and got complex channels; fit it on complex channels")
        if not is_complex and self.complex_channels_:
            X = X.astype(np.complex64 if X.dtype == np.float32 else np.complex128)
        return X

    def validate_target(self, y, X):
        """Targets are ignored (in ``fit`` and ``partial_fit``): training is on the rate."""
        return None

    def build_problem(self, X, y):
        """The :class:`~skunfold.beamforming.HybridPrecoding` of the estimator's parameters.

        Draws the initial digital precoders from ``random_state`` (i.i.d.
        ``N(0, 1)`` entries, ``CN(0, 1)`` for complex channels), shared by every
        sample and rescaled to each sample's power budget.
        """
        n_bands, n_users, n_antennas = X.shape[1:]
        L = self.n_rf_chains
        if L > n_antennas:
            raise ValueError(f"n_rf_chains={L} exceeds the number of antennas M={n_antennas} of "
                             "the channels: a hybrid precoder has at most as many RF chains as "
                             "antennas (1 <= n_rf_chains <= M)")
        if self.analog_constraint not in ANALOG_CONSTRAINTS:
            raise ValueError(f"analog_constraint must be one of {list(ANALOG_CONSTRAINTS)}, got "
                             f"{self.analog_constraint!r}")
        rng = check_random_state(self.random_state)
        shape = (n_bands, L, n_users)
        W0 = rng.standard_normal(shape)
        if self.complex_channels_:
            W0 = (W0 + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)
        self.n_iter_ = int(self.n_layers)
        return HybridPrecoding(X.shape[1:], L, W0, step_size=self.step_size,
                               analog_constraint=self.analog_constraint)

    # -- helpers ---------------------------------------------------------------------------
    def _bf_check_samples(self, n):
        trains = "max_epochs" in self.get_params() and self.paradigm != "classical"
        if trains and self.max_epochs > 0 and self.early_stopping and n < 2:
            raise ValueError(f"{type(self).__name__} with early_stopping=True holds out channels "
                             f"for validation and needs at least 2 samples; got {n} sample")

    def _bf_channels(self, X):
        """Validated 4-D channels and the number of dimensions of ``X``."""
        check_is_fitted(self)
        ndim = constraints.array_ndim(X)
        return self.validate_input(X, reset=False), ndim

    @staticmethod
    def _bf_squeeze(A, ndim, axes):
        """Drop the band (and user) axes that an input of ``ndim`` dimensions did not have."""
        if ndim == 4:
            return np.ascontiguousarray(A)
        drop = axes[:4 - ndim]
        return np.ascontiguousarray(A.reshape([s for i, s in enumerate(A.shape) if i not in drop]))

    def _bf_outputs(self, packed, ndim):
        """``(analog, digital, effective)`` of packed readouts, in the layout of the input."""
        Wa, Wd = self.problem_.unpack(packed)
        P = Wa[:, None] @ Wd
        digital = self._bf_squeeze(Wd, ndim, (1, 3))
        effective = self._bf_squeeze(P, ndim, (1, 3))
        return np.ascontiguousarray(Wa), digital, effective

    def _export_outputs(self, packed, x):
        """skunfold.export's outputs: ``predict`` (the precoders), then ``decompose``'s two.

        In real arithmetic (ONNX has no complex product): complex precoders as
        real arrays with a last axis ``(real, imaginary)``, the exported layout.
        """
        complex_valued = packed.is_complex()
        if complex_valued:
            packed = torch.view_as_real(packed)
        Wa, Wd = self.problem_.unpack(packed if complex_valued else packed[..., None])
        ar, dr = Wa[..., 0], Wd[..., 0]
        if complex_valued:
            ai, di = Wa[..., 1], Wd[..., 1]
            P = torch.stack([ar[:, None] @ dr - ai[:, None] @ di,
                             ar[:, None] @ di + ai[:, None] @ dr], dim=-1)
        else:
            P, Wa, Wd = ar[:, None] @ dr, ar, dr
        drop = (1, 3)[:4 - x.ndim]
        return {"predict": P.squeeze(drop) if drop else P,
                "analog": Wa, "digital": Wd.squeeze(drop) if drop else Wd}

    def _bf_rates(self, X4, packed):
        return self.objective_values(X4, packed)

    # -- public API -----------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Fit the model on channel realisations (train it, unless classical).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_bands, n_users, n_antennas)
            Channels; also ``(n_samples, n_users, n_antennas)`` (one band) or
            ``(n_samples, n_antennas)`` (one band and one user). Complex
            channels give complex precoders, real channels real ones. Or a
            :class:`~skunfold.core.SampleSource` of channels (fresh ones every
            epoch; ``supervised=False``).
        y : None
            Ignored: training is unsupervised, on the rate.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        super().fit(X)
        if self.net_ is not None:
            if isinstance(X, SampleSource):  # check on channels of the source, from random_state
                seed = int(check_random_state(self.random_state).randint(2**31 - 1))
                X = X.draw(X.n_samples_per_epoch, seed, "the improvement check")[0]
            self._bf_keep_improvement(X)
        return self

    def _bf_keep_improvement(self, X):
        """Restore the classical step sizes when training did not improve on them."""
        X4 = self.validate_input(X, reset=False)
        module = self.module_
        reference = restore_classical(copy.deepcopy(module))
        trained, classical = (float(np.mean(self._bf_module_rates(m, X4)))
                              for m in (module, reference))
        if trained < classical:
            restore_classical(module)
            warnings.warn(
                f"training did not improve on the classical solver (mean rate {trained:.4g} vs "
                f"{classical:.4g} nats per band on the training channels); the classical step "
                "sizes are kept. Lower `lr` or train longer.", ConvergenceWarning,
                stacklevel=constraints.caller_stacklevel())

    @staticmethod
    def _bf_module_rates(module, X4, chunk=4096):
        problem = module.problem
        param = next(module.parameters(), None)
        dtype = module.dtype
        device = param.device if param is not None else torch.device("cpu")
        rates = []
        with torch.no_grad():
            for lo in range(0, len(X4), chunk):
                x = to_tensor(X4[lo:lo + chunk], dtype, device)
                estimate = module(x, needed={module.n_layers - 1})[-1]
                rates.append(to_numpy(problem.objective(estimate, x), np.float64))
        return np.concatenate(rates)

    def predict(self, X):
        r"""The precoders of every channel realisation: :math:`W_a W_{d,b}` for every band.

        One array with the samples along the first axis, as scikit-learn
        expects (for indexing, cross-validation and pipelines): the effective
        precoder of every band, the matrix the transmitter applies to the
        users' symbols. Its power is :math:`\sum_b \|P_b\|_F^2 = N B` per sample;
        :func:`~skunfold.beamforming.sum_rate` gives its rate. The hybrid
        factors (analog and digital) are given by :meth:`decompose`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_bands, n_users, n_antennas)
            Channels (or ``(n_samples, n_users, n_antennas)``,
            ``(n_samples, n_antennas)``).

        Returns
        -------
        precoders : ndarray of shape (n_samples, n_bands, n_antennas, n_users)
            ``(n_samples, n_antennas, n_users)`` for one band,
            ``(n_samples, n_antennas)`` for one band and one user; complex for
            complex channels, in the precision of ``X``.
        """
        X4, ndim = self._bf_channels(X)
        return self._bf_outputs(self.iterate(X4), ndim)[2]

    def decompose(self, X, n_layers=None):
        r"""The hybrid precoders: the analog precoder and the digital precoders of every band.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_bands, n_users, n_antennas)
            Channels (or ``(n_samples, n_users, n_antennas)``,
            ``(n_samples, n_antennas)``).
        n_layers : int, optional
            Depth to run (default: the fitted depth; ``0``: the
            initialisation; classical solvers run any depth).

        Returns
        -------
        analog : ndarray of shape (n_samples, n_antennas, n_rf_chains)
            :math:`W_a`; with ``analog_constraint="unit_modulus"`` every entry has
            modulus :math:`1/\sqrt{M}` (:math:`M` = ``n_antennas``).
        digital : ndarray of shape (n_samples, n_bands, n_rf_chains, n_users)
            :math:`W_{d,b}` (``(n_samples, n_rf_chains, n_users)`` for one band,
            ``(n_samples, n_rf_chains)`` for one band and one user).
        """
        X4, ndim = self._bf_channels(X)
        return self._bf_outputs(self.iterate(X4, n_layers), ndim)[:2]

    def staged_predict(self, X, n_layers=None):
        """Yield the precoders (as :meth:`predict`) after each layer ``k = 1, ..., n_layers``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_bands, n_users, n_antennas)
        n_layers : int, optional
            Depth to run (default: the fitted depth; classical solvers run
            any depth, unfolded models at most their number of layers).

        Yields
        ------
        precoders : ndarray of shape (n_samples, n_bands, n_antennas, n_users)
        """
        X4, ndim = self._bf_channels(X)
        for packed in self.staged_iterate(X4, n_layers):
            yield self._bf_outputs(packed, ndim)[2]

    def score(self, X, y=None, sample_weight=None):
        r"""The mean rate of the precoders, in nats per band (higher is better).

        :math:`R = \frac{1}{B} \sum_b \log\det(I_N + H_b P_b P_b^H H_b^H)` (survey eq. 11,
        unit noise variance), averaged over the samples; divide by
        ``log(2)`` for bit/s/Hz.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_bands, n_users, n_antennas)
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        X4, _ = self._bf_channels(X)
        rates = self._bf_rates(X4, self.iterate(X4))
        return float(np.average(rates, weights=sample_weight))

    def staged_score(self, X, n_layers=None):
        """Yield the mean rate (as :meth:`score`) after each layer ``k = 1, ..., n_layers``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_bands, n_users, n_antennas)
        n_layers : int, optional
            Depth to run (default: the fitted depth).

        Yields
        ------
        score : float
            The mean rate in nats per band.
        """
        X4, _ = self._bf_channels(X)
        for packed in self.staged_iterate(X4, n_layers):
            yield float(np.mean(self._bf_rates(X4, packed)))

    @property
    def step_sizes_(self):
        r"""Step sizes of every layer, shape ``(n_layers, 1 + B)``.

        :math:`\mu_{a,k}` (column 0), then :math:`\mu_{d,b,k}`: the columns ``analog_step``
        and ``digital_step`` of ``layer_parameters_`` side by side.
        """
        table = self.layer_parameters_
        return np.column_stack([table["analog_step"], table["digital_step"]])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.target_tags.required = False
        return tags
