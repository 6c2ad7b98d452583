"""Reading, writing and running TFLite flatbuffers: the schema object API, WESS metadata, versions, LiteRT and TFLite Micro."""
