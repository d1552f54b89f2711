"""The readers and writers on their own: files in the tools' documented shapes read with the
right times and tags, each class of bad input names its line or element, JAMS output is valid
for the `jams` library, and each writer's output reads back to the same labels."""

from __future__ import annotations

import gzip
import io
import json

import jams
import pytest

from tests.interchange import shapes
from workers.interchange import audacity, jams_format, labelstudio, sonic_visualiser
from workers.interchange.formats import FORMATS, guess
from workers.interchange.model import Label, LabelFileError, SoundInfo

SOUND = SoundInfo(id="0190c0de-0000-7000-8000-000000000001", title="A tone",
                  audio_url="http://127.0.0.1:9/a.wav", duration_seconds=10.0, license="CC_BY")  # fmt: skip
LABELS = [
    Label(0.0, 10.0, ("dark", "bright"), created_by="ann"),
    Label(1.25, 2.5, ("snare",), metadata={"lowHz": 100.5, "highHz": None}, created_by="ann"),
    Label(3.4, 3.4, ("onset",), point=True, created_by="ann"),
    Label(4.0, 5.123456789, ("speech",), metadata={"text": "hello there", "value": 0.5},
          created_by="ann"),
    Label(0.0, 10.0, (), data_url="http://127.0.0.1:9/f.npy", metadata={"dtype": "float32"},
          created_by="bot"),
    Label(6.000001, 7.999999, ("note:C4", "piano"), created_by="ann"),
]  # fmt: skip


def spans(labels: list[Label]) -> list[tuple[float, float, tuple[str, ...]]]:
    return [(round(x.start, 6), round(x.end, 6), x.tags) for x in labels]


def test_audacity_file_with_frequency_lines_and_point_labels() -> None:
    labels = audacity.read(shapes.AUDACITY.encode())
    assert spans(labels) == [
        (1.0, 2.5, ("kick",)),
        (3.4, 3.4, ("snare",)),
        (4.0, 4.25, ("kick", "hat")),
        (5.0, 6.0, ()),
    ]
    assert labels[0].metadata == {"lowHz": 100.0, "highHz": None}
    assert labels[1].point and labels[1].metadata == {"lowHz": 1484.669312, "highHz": 2969.338523}
    assert labels[3].text and labels[3].text.startswith("and this is a long spoken sentence")
    # and written back as Audacity wrote it
    assert audacity.write(SOUND, labels) == shapes.AUDACITY


def test_sonic_visualiser_csv_with_and_without_value_and_duration() -> None:
    regions = sonic_visualiser.read(shapes.SV_REGIONS.encode())
    assert spans(regions) == [(1.5, 1.75, ("snare",)), (2.0, 3.0, ("kick, low",))]
    assert [x.metadata for x in regions] == [{"value": 0.5}, {"value": 0.8}]
    instants = sonic_visualiser.read(shapes.SV_INSTANTS.encode())
    assert spans(instants) == [(0.5, 0.5, ("onset",)), (1.0, 1.0, ("onset",))]
    assert all(x.point for x in instants)
    values = sonic_visualiser.read(shapes.SV_VALUES.encode())
    assert spans(values) == [(3.0, 3.0, ("A4",))] and values[0].metadata == {"value": 440.0}
    headed = sonic_visualiser.read(shapes.SV_HEADER.encode())
    assert spans(headed) == [(0.25, 0.75, ("hat",)), (1.0, 1.0, ("click",))]
    assert headed[1].point


def test_labelstudio_export_with_regions_textarea_and_choices() -> None:
    data = json.dumps(shapes.labelstudio_export("http://127.0.0.1:9/a.wav")).encode()
    [task] = labelstudio.read_tasks(data)
    assert task.audio_url == "http://127.0.0.1:9/a.wav" and task.original_length == 98.72
    assert spans(task.labels) == [
        (12.78, 28.51, ("Beat",)),
        (30.0, 31.5, ("Speech", "Noise")),
        (0.0, 98.72, ("Jazz",)),
    ]  # the cancelled annotation and the prediction are not imported
    assert task.labels[0].metadata == {"text": "four on the floor"}


def test_labelstudio_task_list_without_annotations() -> None:
    tasks = labelstudio.read_tasks(
        b'[{"data": {"audio": "http://127.0.0.1:9/a.wav"}}, {"data": {"audio": "http://127.0.0.1:9/b.wav", "title": "B"}}]'
    )
    assert [t.audio_url for t in tasks] == ["http://127.0.0.1:9/a.wav", "http://127.0.0.1:9/b.wav"]
    assert all(t.labels == [] for t in tasks)


def test_jams_file_with_several_namespaces() -> None:
    labels = jams_format.read(shapes.jams_file().encode())
    assert spans(labels) == [
        (0.0, 30.0, ("rock", "guitar")),
        (0.0, 10.5, ("verse",)),
        (10.5, 19.75, ("chorus",)),
        (1.0, 1.0, ("onset",)),
        (2.5, 2.5, ("onset",)),
        (0.0, 2.0, ("C:maj",)),
        (2.0, 4.0, ("G:7",)),
        (0.5, 0.5, ("beat",)),
        (0.0, 30.0, ("blues",)),
    ]
    assert labels[7].metadata == {"value": 1}
    assert labels[8].metadata == {"confidence": 0.8}
    # gzipped (.jamz) reads the same
    assert spans(jams_format.read(gzip.compress(shapes.jams_file().encode()))) == spans(labels)


@pytest.mark.filterwarnings("ignore:Passing a schema to Validator:DeprecationWarning")
def test_jams_output_validates_with_jams() -> None:
    text = jams_format.write(SOUND, LABELS)
    jam = jams.load(io.StringIO(text), validate=True, strict=True)
    assert jam.file_metadata.duration == 10.0
    assert jam.file_metadata.identifiers["cochlea_sound"] == SOUND.id
    namespaces = sorted(a.namespace for a in jam.annotations)
    assert namespaces == ["blob", "onset", "segment_open", "tag_open"]
    [tags] = jam.search(namespace="tag_open")
    assert [o.value for o in tags.data] == ["dark", "bright"]  # one observation per tag
    [blob] = jam.search(namespace="blob")
    assert blob.sandbox.cochlea[0]["dataUrl"] == "http://127.0.0.1:9/f.npy"
    assert blob.annotation_metadata.annotator["name"] == "bot"


@pytest.mark.parametrize("name", list(FORMATS))
def test_writers_read_back_to_the_same_labels(name: str) -> None:
    fmt = FORMATS[name]
    first = fmt.write(SOUND, LABELS)
    back = fmt.read(first.encode())
    again = fmt.write(SOUND, [_as_one_creator(x) for x in back])
    assert again == fmt.write(SOUND, [_as_one_creator(x) for x in LABELS if _kept(name, x)])
    if name in ("jams", "labelstudio"):  # these keep everything Cochlea stores
        key = lambda x: (x.start, x.end, x.tags)  # noqa: E731
        assert sorted(
            ((round(x.start, 6), round(x.end, 6), x.tags, x.data_url, x.metadata) for x in back),
            key=str,
        ) == sorted(
            ((round(x.start, 6), round(x.end, 6), x.tags, x.data_url, x.metadata) for x in LABELS),
            key=str,
        ), key


def _kept(name: str, label: Label) -> bool:
    return name != "audacity" or bool(label.tags or label.text)


def _as_one_creator(label: Label) -> Label:
    return Label(label.start, label.end, label.tags, label.data_url, label.metadata, label.point,
                 created_by="ann")  # fmt: skip


def test_format_guessed_from_extension_and_content() -> None:
    assert guess("x.jams", b"{}").name == "jams"
    assert guess("x.txt", b"1\t2\ta\n").name == "audacity"
    assert guess("x.csv", b"1,a\n").name == "csv"
    assert guess("x.json", b"[]").name == "labelstudio"
    assert guess("x.json", shapes.jams_file().encode()).name == "jams"
    assert guess("labels", b"1.0\t2.0\tkick\n").name == "audacity"
    assert guess("labels", b"1.0,kick\n").name == "csv"
    assert guess("labels", b'[{"data": {"audio": "http://h/a.wav"}}]').name == "labelstudio"


BAD = [
    # wrong delimiters
    (audacity.read, "1.0 2.0 kick\n", "line 1: expected `start<TAB>end<TAB>label` (tab-separated), found spaces"),
    (audacity.read, "1.0\t2.0\tok\n1.0,2.0,kick\n", "line 2: expected `start<TAB>end<TAB>label` (tab-separated), found commas"),
    (sonic_visualiser.read, "1.0\t0.5\tkick\n", "line 1: expected comma-separated `time[,value][,duration],label` (this line uses '\\t' instead of commas)"),
    (sonic_visualiser.read, "1.0;kick\n", "line 1: expected comma-separated `time[,value][,duration],label` (this line uses ';' instead of commas)"),
    # start after end
    (audacity.read, "1\t2\ta\n5.0\t4.0\tkick\n", "line 2: start 5 s is after end 4 s"),
    (sonic_visualiser.read, "TIME,END,LABEL\n5.0,4.0,kick\n", "line 2: start 5 s is after end 4 s"),
    (sonic_visualiser.read, "1.0,0.5,-0.25,kick\n", "line 1, duration: -0.25 is negative: the segment ends before it starts"),
    (labelstudio.read, '[{"data": {}, "annotations": [{"result": [{"id": "a", "type": "labels", "value": {"start": 3, "end": 2, "labels": ["x"]}}]}]}]',
     "task 0.annotations[0].result[0]: start 3 s is after end 2 s"),
    # negative or non-numeric times
    (audacity.read, "-1.0\t2.0\tkick\n", "line 1, start: -1 is negative"),
    (audacity.read, "abc\t2.0\tkick\n", "line 1, start: 'abc' is not a number"),
    (sonic_visualiser.read, "1.0,kick\n-2.0,snare\n", "line 2, time: -2 is negative"),
    (sonic_visualiser.read, "1.0,x,0.5,kick\n", "line 1, value: 'x' is not a number"),
    (labelstudio.read, '[{"data": {}, "annotations": [{"result": [{"type": "labels", "value": {"start": "a", "end": 2, "labels": ["x"]}}]}]}]',
     "task 0.annotations[0].result[0], value.start: 'a' is not a number"),
    (jams_format.read, json.dumps({"file_metadata": {"duration": 5}, "annotations": [{"namespace": "onset", "annotation_metadata": {}, "data": [{"time": -1, "duration": 0, "value": None, "confidence": None}], "sandbox": {}}]}),
     "annotations[0].data[0].time: -1 is less than the minimum of 0.0"),
    (jams_format.read, json.dumps({"file_metadata": {"duration": 5}, "annotations": [{"namespace": "tag_open", "annotation_metadata": {}, "data": [{"time": "soon", "duration": 1, "value": "x", "confidence": None}], "sandbox": {}}]}),
     "annotations[0].data[0].time: 'soon' is not of type 'number'"),
    # unknown JAMS namespaces, dense ones
    (jams_format.read, json.dumps({"file_metadata": {}, "annotations": [{"namespace": "tag_open", "data": []}, {"namespace": "tag_cochlea", "data": []}]}),
     "annotations[1], namespace: unknown JAMS namespace 'tag_cochlea'"),
    (jams_format.read, json.dumps({"file_metadata": {}, "annotations": [{"namespace": "pitch_contour", "data": []}]}),
     "annotations[0], namespace: 'pitch_contour' is a dense time series, not labels: Cochlea does not import it"),
    # invalid JSON
    (jams_format.read, '{"annotations": [\n  {"namespace": "onset",}\n]}', "line 2 column 25: invalid JSON: Expecting property name enclosed in double quotes"),
    (labelstudio.read, '[{"data": {"audio": "x"}}\n', "line 2 column 1: invalid JSON: Expecting ',' delimiter"),
    # other bad shapes
    (audacity.read, "\\\t1\t2\n", "line 1: a frequency line (`\\`) must follow a label line"),
    (audacity.read, "1.0\t2.0\t\n", "line 1, label: the label is empty: name it (Cochlea annotations need a tag)"),
    (labelstudio.read, '{"audio": "x"}', "task 0, data: a task is an object with a `data` object"),
    (jams_format.read, "[]", "not a JAMS file: expected an object with an `annotations` list"),
    (audacity.read, b"1.0\t2.0\t\xff\n", "byte 8: the file is not UTF-8 text (invalid start byte)"),
]  # fmt: skip


@pytest.mark.parametrize(("read", "text", "message"), BAD)
def test_bad_input_names_the_line_or_element(read: object, text: str | bytes, message: str) -> None:
    data = text if isinstance(text, bytes) else text.encode()
    with pytest.raises(LabelFileError) as caught:
        read(data)  # type: ignore[operator]
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)
