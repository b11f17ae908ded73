"""Training: the LightningModule, losses, metrics, optimizers, callbacks, loggers, and
:func:`autotag.training.run.fit`, which runs one network or baseline and writes its results."""
