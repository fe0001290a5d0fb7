"""The model-serving side of the platform: serving API, training and drift jobs."""
