import pytest

#: the smallest real CNN config: trains one digits epoch in well under a second
TINY = {
    "architecture": "resnet",
    "resnet_blocks": 1,
    "width": 4,
    "kernel_size": 3,
    "activation": "relu",
    "dropout": 0.0,
    "batch_norm": True,
    "optimizer": "sgd",
    "momentum": 0.9,
    "learning_rate": 0.05,
    "weight_decay": 0.0005,
    "batch_size": 128,
    "lr_schedule": "cosine",
    "augmentation": "none",
    "label_smoothing": 0.0,
}


@pytest.fixture
def tiny_config():
    return dict(TINY)


@pytest.fixture(scope="session")
def digits():
    from mfbench.training.data import load_dataset

    return load_dataset("digits")
