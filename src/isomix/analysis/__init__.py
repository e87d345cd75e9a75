"""Tempo, beats and key of a song, from its mixture and stems (numpy and librosa, no database).

`names` (the key names, the BPM range and the JSON shape) is light and imported by the API;
`tempo`, `key` and `run` import librosa and are imported by the worker only.
"""
