"""multilingual-e5-small run by onnxruntime, and the worker process that runs it.

Kept out of `bot.matching` on purpose: the worker process imports only this
package, numpy, onnxruntime and onnx's protobuf classes, not the matcher's dictionaries (jieba,
pypinyin, OpenCC), so it holds the model and little else.
"""
