"""multilingual-e5-small run by onnxruntime, and the worker process that runs it.

Kept out of `bot.matching` on purpose: the worker process imports only this
package, numpy, onnx and onnxruntime, not the matcher's dictionaries (jieba,
pypinyin, OpenCC), so it holds the model and little else.
"""
