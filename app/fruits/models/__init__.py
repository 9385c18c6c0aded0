"""The featurizers: which weights (found and checked once, on the driver), how a model is built
(ResNet50 in Keras, EfficientNet-Lite0 ported from a PyTorch state dict), quantized to int8, and
cached once per Python worker. Nothing here knows about Spark beyond the file a worker was sent.
"""
