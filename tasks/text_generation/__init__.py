DESCRIPTION = "Character language model on census first names (or Hamlet): RNN/GRU/LSTM, temperature/top-k/top-p sampling, in-graph sampling SavedModel"
