DESCRIPTION = "Human-written dates to ISO 8601 (seq2seq with attention or a Transformer; greedy/beam search in the SavedModel)"
