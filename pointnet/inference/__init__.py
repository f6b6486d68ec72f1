"""A trained model in use: the ``Classifier`` API (checkpoint in, predictions out) and export to ONNX or torch.export.

- :mod:`~pointnet.inference.classifier`: ``Classifier.from_checkpoint(path).predict(inputs)``;
- :mod:`~pointnet.inference.export`: the inference graph (BatchNorm folded, logits only) and its export.
"""
