DESCRIPTION = "Speech recognition with CTC: spoken numbers, dates and times to text, greedy and beam + LM decoding"
