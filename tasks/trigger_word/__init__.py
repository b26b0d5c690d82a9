DESCRIPTION = "Trigger-word detection ('activate') on synthesised speech: course and streaming models, TFLite"
