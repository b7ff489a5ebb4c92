"""What every training loop of synthtumor shares: the loop itself and its checkpoint format."""

from synthtumor.training.checkpoints import latest_checkpoint, load_checkpoint_file, save_checkpoint
from synthtumor.training.loop import RunLog, run_loop

__all__ = ["RunLog", "run_loop", "save_checkpoint", "latest_checkpoint", "load_checkpoint_file"]
