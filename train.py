"""Train and evaluate a tagger: ``python train.py norm=per_coeff model=fcn_bn``."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    from autotag.training import train

    results = train(cfg)
    return results["val"]["roc_auc"]  # the objective a Hydra sweeper (Optuna) maximizes


if __name__ == "__main__":
    main()
