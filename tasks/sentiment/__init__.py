DESCRIPTION = "Sentiment of short texts (Rotten Tomatoes offline): GloVe average, LSTM, Transformer, CNN, ensemble; raw-string SavedModel"
