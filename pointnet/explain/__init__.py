"""The seed's explainer: fully connected layers as convolutions on images (``fc_as_conv``)."""
