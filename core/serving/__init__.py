"""A trained run put to use: loading it, predicting, exporting it (ONNX, LiteRT) and moving it between labs as a bundle."""
