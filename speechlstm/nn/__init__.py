"""The torch side: the model (:mod:`.model`), training data (:mod:`.data`), augmentation
(:mod:`.augment`), training (:mod:`.train`), checkpoint averaging (:mod:`.average`, numpy only) and
ONNX export (:mod:`.export`).

With :mod:`speechlstm.backends.torch` the only modules that import torch (and, with
:mod:`speechlstm.backends.onnx`, onnx and onnxruntime); ``tests/test_layout.py`` checks it.
Nothing is imported here, so ``speechlstm.nn.data`` loads without torch.
"""
