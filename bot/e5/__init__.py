"""multilingual-e5-small run with numpy, and the worker process that runs it.

Kept out of `bot.matching` on purpose: the worker process imports only this
package and numpy, not the matcher's dictionaries (jieba, pypinyin, OpenCC),
so it holds the model and little else.
"""
