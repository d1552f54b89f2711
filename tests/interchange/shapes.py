"""Label files in the real tools' documented shapes, written here (never downloaded)."""

from __future__ import annotations

import json
from typing import Any

# Audacity 3 "extended" label export: a frequency line after each label; -1 is undefined.
AUDACITY = (
    "1.000000\t2.500000\tkick\n"
    "\\\t100.000000\t-1.000000\n"
    "3.400000\t3.400000\tsnare\n"
    "\\\t1484.669312\t2969.338523\n"
    "4.000000\t4.250000\tkick; hat\n"
    "5.000000\t6.000000\tand this is a long spoken sentence, far longer than any tag could be\n"
)

# Sonic Visualiser layer exports: a regions layer (time,value,duration,label), an instants layer
# (time,label), a time-values layer (time,value,label), and one with a header row.
SV_REGIONS = '1.500000000,0.5,0.250000000,snare\n2.000000000,0.8,1.000000000,"kick, low"\n'
SV_INSTANTS = "0.500000000,onset\n1.000000000,onset\n"
SV_VALUES = "3.000000000,440.0,A4\n"
SV_HEADER = "TIME,DURATION,LABEL\n0.25,0.5,hat\n1.0,0,click\n"


def labelstudio_export(audio: str) -> list[dict[str, Any]]:
    """An export of the audio template: two labelled regions (one with a transcription in a
    per-region TextArea), a whole-file choice, a cancelled annotation and a prediction."""
    region = {"to_name": "audio", "original_length": 98.72, "origin": "manual"}
    return [
        {
            "id": 7,
            "data": {"audio": audio},
            "annotations": [
                {
                    "id": 11,
                    "completed_by": 1,
                    "was_cancelled": False,
                    "result": [
                        region | {"id": "SsGrpVgy_C", "from_name": "label", "type": "labels",
                                  "value": {"start": 12.78, "end": 28.51, "channel": 0,
                                            "labels": ["Beat"]}},
                        region | {"id": "SsGrpVgy_C", "from_name": "transcription",
                                  "type": "textarea",
                                  "value": {"start": 12.78, "end": 28.51, "channel": 0,
                                            "text": ["four on the floor"]}},
                        region | {"id": "Xy12Ab34Cd", "from_name": "label", "type": "labels",
                                  "value": {"start": 30.0, "end": 31.5, "channel": 0,
                                            "labels": ["Speech", "Noise"]}},
                        {"id": "g3nre", "from_name": "genre", "to_name": "audio",
                         "type": "choices", "value": {"choices": ["Jazz"]}},
                    ],
                },
                {"id": 12, "was_cancelled": True, "result": [
                    region | {"id": "zz", "from_name": "label", "type": "labels",
                              "value": {"start": 1.0, "end": 2.0, "labels": ["Wrong"]}}]},
            ],
            "predictions": [{"score": 0.9, "result": [
                region | {"id": "pp", "from_name": "label", "type": "labels",
                          "value": {"start": 3.0, "end": 4.0, "labels": ["Guess"]}}]}],
        }
    ]  # fmt: skip


def jams_file(duration: float = 30.0) -> str:
    """A JAMS file as other tools write it: several namespaces, confidences, no sandbox."""

    def annotation(namespace: str, data: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "namespace": namespace,
            "annotation_metadata": {"corpus": "test", "annotator": {"name": "someone"}},
            "data": data,
            "time": 0,
            "duration": duration,
            "sandbox": {},
        }

    def obs(time: float, dur: float, value: Any, confidence: Any = None) -> dict[str, Any]:
        return {"time": time, "duration": dur, "value": value, "confidence": confidence}

    return json.dumps(
        {
            "file_metadata": {"title": "t", "duration": duration, "identifiers": {},
                              "jams_version": "0.3.5"},
            "annotations": [
                annotation("tag_open", [obs(0, duration, "rock"), obs(0, duration, "guitar")]),
                annotation("segment_open", [obs(0, 10.5, "verse"), obs(10.5, 9.25, "chorus")]),
                annotation("onset", [obs(1.0, 0, None), obs(2.5, 0, None)]),
                annotation("chord", [obs(0, 2.0, "C:maj"), obs(2.0, 2.0, "G:7")]),
                annotation("beat", [obs(0.5, 0, 1)]),
                annotation("tag_gtzan", [obs(0, duration, "blues", 0.8)]),
            ],
            "sandbox": {},
        }
    )  # fmt: skip
