"""fruits-pipeline: Fruits-360 images -> ResNet50 features -> StandardScaler + PCA -> data lake."""

__version__ = "0.1.0"
