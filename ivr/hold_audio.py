"""Careline's own hold clip: a few seconds of soft chords, made once per process, served to Twilio.

The clip is short on purpose: each hold turn plays it once and then asks the wait URL again, so the
announcements come on time and a match is picked up within a clip's length even when the REST redirect
failed. HOLD_MUSIC_URL replaces it with any clip the operator prefers (keep it 10 to 30 s).
"""
from __future__ import annotations

import functools
import io
import math
import wave

SAMPLE_RATE = 8000  # Hz: telephone audio, so nothing is lost and the file stays small
CLIP_SECONDS = 12.0
CHORD_SECONDS = 3.0
# Four chords (frequencies in Hz): C major, A minor, F major, G major, in a low, calm register.
CHORDS = ((261.63, 329.63, 392.00), (220.00, 261.63, 329.63), (174.61, 220.00, 261.63), (196.00, 246.94, 293.66))
VOLUME = 0.18  # of full scale: hold audio sits below the announcements


@functools.cache
def hold_clip_wav() -> bytes:
    """The clip as a mono 16-bit PCM WAV file."""
    frames = bytearray()
    per_chord = int(SAMPLE_RATE * CHORD_SECONDS)
    fade = int(SAMPLE_RATE * 0.4)
    for index in range(int(CLIP_SECONDS / CHORD_SECONDS)):
        chord = CHORDS[index % len(CHORDS)]
        for n in range(per_chord):
            envelope = min(1.0, n / fade, (per_chord - n) / fade)
            t = n / SAMPLE_RATE
            sample = sum(math.sin(2 * math.pi * f * t) for f in chord) / len(chord)
            frames += int(sample * envelope * VOLUME * 32767).to_bytes(2, "little", signed=True)
    out = io.BytesIO()
    with wave.open(out, "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(SAMPLE_RATE)
        clip.writeframes(bytes(frames))
    return out.getvalue()
