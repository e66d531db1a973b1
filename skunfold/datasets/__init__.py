"""Problems with ground truth: synthetic ones, and real image patches (every generator takes
``random_state``)."""

from ._beamforming import make_wideband_channels
from ._distributed import make_distributed_lasso, make_distributed_regression
from ._imaging import TEST_IMAGES, TRAIN_IMAGES, make_imaging_problem
from ._mimo import MIMOFrame, make_mimo, make_mimo_stream
from ._patches import IMAGES, load_image, make_patch_denoising
from ._power import make_interference_network
from ._rpca import make_rpca, make_static_video, perturb_psi
from ._sparse import make_sparse_recovery

__all__ = ["make_sparse_recovery", "make_patch_denoising", "load_image", "IMAGES",
           "make_mimo", "make_mimo_stream", "MIMOFrame",
           "make_rpca", "perturb_psi", "make_static_video", "make_interference_network",
           "make_wideband_channels", "make_distributed_lasso", "make_distributed_regression",
           "make_imaging_problem", "TRAIN_IMAGES", "TEST_IMAGES"]
