DESCRIPTION = "Word embeddings: GloVe analogies and debiasing; skip-gram, CBOW and GloVe trained in Keras against gensim"
