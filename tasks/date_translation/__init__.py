DESCRIPTION = ("Date strings in the wild to ISO 8601 date, time and UTC offset, or 'not a date' (seq2seq with "
               "attention or a Transformer; calendar-constrained greedy/beam search in the SavedModel)")
