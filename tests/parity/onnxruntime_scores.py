#!/usr/bin/env python3
"""Runs an exported sasrec.onnx with onnxruntime, the reference ONNX implementation.

Usage: onnxruntime_scores.py MODEL.onnx INPUTS.json
INPUTS.json: {"history": [B][L][d], "mask": [B][L], "candidates": [B][C][d]}
Prints {"scores": [B][C]} as JSON.
"""
import json
import sys

import numpy as np
import onnxruntime as ort

model_path, inputs_path = sys.argv[1], sys.argv[2]
with open(inputs_path) as f:
    inputs = json.load(f)
session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
feeds = {name: np.asarray(inputs[name], dtype=np.float32) for name in ("history", "mask", "candidates")}
(scores,) = session.run(["scores"], feeds)
json.dump({"scores": scores.tolist()}, sys.stdout)
