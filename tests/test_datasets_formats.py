"""Format sniffing, text checks, archive safety and schema inference (datasets/formats.py, schema.py).

These read small generated files from disk; the API tests run the same cases through uploads.
"""

from __future__ import annotations

import codecs
import tarfile

import pandas as pd
import pytest

from datasets.formats import ArchiveLimits, FormatError, iter_archive, list_archive, sniff
from datasets.schema import SchemaError, SchemaInferrer, apply_schema, infer_schema, validate_schema
from datasets.uploads import inspect_tabular
from tests.test_datasets_formats_data import (  # noqa: F401 - isolated_data_dir is an autouse fixture
    CSV,
    PNG,
    images_zip,
    isolated_data_dir,
    numbered_csv,
    parquet_bytes,
    tar_bytes,
    tar_member,
    write,
    xlsx_bytes,
    zip_bomb,
    zip_bytes,
    zip_with_symlink,
)


def inspect(tmp_path, name: str, data: bytes, **overrides):
    path = write(tmp_path / "in" / name, data)
    sniffed = sniff(path, name, overrides)
    return inspect_tabular(path, sniffed)


def types(inspection) -> dict[str, str]:
    return {column["name"]: column["type"] for column in inspection["schema"]}


# --- every format -------------------------------------------------------------------------------


def test_a_csv_with_a_header_is_sniffed_typed_and_counted(tmp_path):
    found = inspect(tmp_path, "people.csv", CSV)

    assert found["format"] == "csv"
    assert found["read_options"] == {"delimiter": ",", "header": True, "encoding": "utf-8"}
    assert types(found) == {
        "id": "integer",
        "score": "float",
        "label": "boolean",
        "when": "datetime",
        "city": "categorical",
    }
    assert found["row_count"] == 40
    assert found["column_count"] == 5
    assert found["preview"]["columns"] == ["id", "score", "label", "when", "city"]
    assert found["preview"]["rows"][0] == [0, 0.25, "no", "2024-01-01", "Oslo"]
    assert len(found["preview"]["rows"]) == 20


def test_a_tsv_is_read_with_tabs(tmp_path):
    found = inspect(tmp_path, "t.tsv", b"a\tb\tnote\n1\t2.5\thello there\n3\t4\tgeneral kenobi\n")

    assert found["format"] == "tsv"
    assert found["read_options"]["delimiter"] == "\t"
    assert types(found) == {"a": "integer", "b": "float", "note": "text"}


def test_a_semicolon_csv_without_a_header_gets_numbered_columns(tmp_path):
    found = inspect(tmp_path, "raw.csv", b"1;2.5;x\n3;4.5;y\n5;6.5;x\n7;8.5;y\n")

    assert found["read_options"]["delimiter"] == ";"
    assert found["read_options"]["header"] is False
    assert [c["name"] for c in found["schema"]] == ["column_1", "column_2", "column_3"]
    assert found["row_count"] == 4  # the first line is data, not a header
    assert found["preview"]["rows"][0] == [1, 2.5, "x"]


def test_a_utf8_bom_is_not_part_of_the_first_column_name(tmp_path):
    found = inspect(tmp_path, "bom.csv", codecs.BOM_UTF8 + b"name,age\nann,3\nbob,4\n")

    assert found["read_options"]["encoding"] == "utf-8-sig"
    assert [c["name"] for c in found["schema"]] == ["name", "age"]


def test_a_latin1_file_is_decoded_with_the_detected_encoding(tmp_path):
    text = "name,city\n" + "".join(f"José {i},Zürich\nRené {i},Genève\n" for i in range(30))

    found = inspect(tmp_path, "latin.csv", text.encode("latin-1"))

    assert codecs.lookup(found["read_options"]["encoding"]).name in {"cp1252", "iso8859-1", "latin-1"}
    assert found["preview"]["rows"][0] == ["José 0", "Zürich"]


def test_a_declared_encoding_is_used_instead_of_detection(tmp_path):
    found = inspect(tmp_path, "l.csv", "a,b\nç,1\n".encode("latin-1"), encoding="latin-1")

    assert found["read_options"]["encoding"] == "iso8859-1"
    assert found["preview"]["rows"] == [["ç", 1]]


def test_parquet_is_recognized_by_its_magic(tmp_path):
    found = inspect(tmp_path, "anything.bin", parquet_bytes())

    assert found["format"] == "parquet"
    assert types(found) == {"x": "integer", "y": "float", "z": "text"}
    assert found["row_count"] == 3


def test_json_lines(tmp_path):
    found = inspect(
        tmp_path, "rows.jsonl", b'{"a": 1, "b": "x", "ok": true}\n\n{"a": 2, "b": "y", "ok": false}\n'
    )

    assert found["format"] == "jsonl"
    assert types(found) == {"a": "integer", "b": "text", "ok": "boolean"}
    assert found["row_count"] == 2


def test_an_xlsx_written_by_openpyxl(tmp_path):
    found = inspect(tmp_path, "book.xlsx", xlsx_bytes())

    assert found["format"] == "xlsx"
    assert types(found) == {"name": "text", "age": "integer", "member": "boolean"}
    assert found["row_count"] == 3


def test_a_zip_of_images_is_an_archive_listed_safely(tmp_path):
    path = write(tmp_path / "pets.zip", images_zip())

    sniffed = sniff(path, "pets.zip")
    members = list_archive(path, sniffed.archive, ArchiveLimits())

    assert (sniffed.format, sniffed.archive) == ("archive", "zip")
    assert [m.name for m in members] == ["images/cat.png", "images/dog.png", "notes/readme.txt"]
    assert {m.name: stream.read() for m, stream in iter_archive(path, "zip", ArchiveLimits())}[
        "images/cat.png"
    ] == PNG


def test_a_tar_gz_of_text_files_is_an_archive(tmp_path):
    path = write(
        tmp_path / "docs.tar.gz", tar_bytes({"a.txt": b"alpha", "sub/b.txt": b"beta", "./c.txt": b"c"})
    )

    sniffed = sniff(path, "docs.tar.gz")
    members = list_archive(path, "tar", ArchiveLimits())

    assert (sniffed.format, sniffed.archive) == ("archive", "tar")
    assert [m.name for m in members] == ["a.txt", "sub/b.txt", "c.txt"]


def test_archive_junk_files_are_left_out(tmp_path):
    path = write(
        tmp_path / "mac.zip", zip_bytes({"a.txt": b"a", "__MACOSX/._a.txt": b"x", "d/.DS_Store": b"x"})
    )

    assert [m.name for m in list_archive(path, "zip", ArchiveLimits())] == ["a.txt"]


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", "empty"),
        ("blank.csv", b"\n\n   \n", "empty"),
        ("noise.csv", bytes(range(256)) * 40, "binary data"),
        ("photo.csv", PNG, "PNG image"),
        ("short.csv", b"a,b,c\n1,2,3\n4,5\n6,7,8\n", "Line 3 has 2 fields, expected 3"),
        ("long.csv", b"a,b,c\n1,2,3\n1,2,3\n4,5,6,7\n", "Line 4 has 4 fields, expected 3"),
        ("header-only.csv", b"a,b,c\n", "no rows"),
        ("objects.jsonl", b'{"a": 1}\n[1, 2]\n', "line 2: expected a JSON object"),
        ("broken.jsonl", b'{"a": 1}\n{"a": \n', "line 2: not JSON"),
        ("data.gz", b"\x1f\x8b\x08\x00" + b"\x01" * 40, "compressed but is not a tar"),
    ],
)
def test_bad_files_are_refused_with_a_message_naming_the_problem(tmp_path, name, data, message):
    with pytest.raises(FormatError, match=message):
        inspect(tmp_path, name, data)


def test_an_unknown_declared_encoding_is_refused(tmp_path):
    with pytest.raises(FormatError, match="Unknown encoding 'klingon'"):
        inspect(tmp_path, "a.csv", b"a,b\n1,2\n", encoding="klingon")


def test_invalid_utf8_after_the_sniffed_sample_names_its_line(tmp_path):
    good = numbered_csv(60_000)  # well past the 1 MB sample
    lines = good.count(b"\n")

    with pytest.raises(FormatError, match=f"Line {lines + 1} is not valid UTF-8"):
        inspect(tmp_path, "late.csv", good + b"1,\xff\xfe,x\n")


def test_an_enormous_line_is_refused_without_reading_it_whole(tmp_path, settings):
    settings.STUDIO_UPLOAD_MAX_LINE_BYTES = 1024 * 1024

    with pytest.raises(FormatError, match="Line 2 is longer than 1 MB"):
        inspect(tmp_path, "wide.csv", b"a,b\n" + b"x" * (2 * 1024 * 1024) + b",1\n")


def test_a_quote_that_never_closes_is_refused(tmp_path):
    with pytest.raises(FormatError):
        inspect(tmp_path, "q.csv", b'a,b\n1,"never closed\n2,3\n')


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (zip_bytes({"../evil.txt": b"x"}), "outside the archive"),
        (zip_bytes({"/etc/cron.d/evil": b"x"}), "absolute path"),
        (zip_bytes({"ok/../../evil": b"x"}), "outside the archive"),
        (zip_with_symlink(), "symbolic link"),
        (zip_bomb(), "zip bomb"),
        (zip_bytes({}), "holds no files"),
        (tar_bytes({"../../evil.txt": b"x"}), "outside the archive"),
        (tar_bytes({"a.txt": b"a"}, extra=[tar_member("link", tarfile.SYMTYPE, "/etc/passwd")]), "is a link"),
        (tar_bytes({"a.txt": b"a"}, extra=[tar_member("hard", tarfile.LNKTYPE, "a.txt")]), "is a link"),
        (tar_bytes({"a.txt": b"a"}, extra=[tar_member("dev", tarfile.CHRTYPE)]), "device or special"),
        (tar_bytes({"zeros.bin": b"\x00" * (8 * 1024 * 1024)}), "decompression bomb"),
    ],
)
def test_unsafe_archives_are_refused_before_anything_is_extracted(tmp_path, data, message):
    path = write(tmp_path / "bad-archive", data)
    sniffed = sniff(path, "bad-archive")

    with pytest.raises(FormatError, match=message):
        list_archive(path, sniffed.archive, ArchiveLimits())


def test_an_archive_with_too_many_files_is_refused(tmp_path):
    path = write(tmp_path / "many.zip", zip_bytes({f"f{i}.txt": b"x" for i in range(11)}))

    with pytest.raises(FormatError, match="more than 10 files"):
        list_archive(path, "zip", ArchiveLimits(max_files=10))


def test_an_archive_larger_than_the_total_limit_is_refused(tmp_path):
    path = write(tmp_path / "big.zip", zip_bytes({"a.txt": b"a" * 5000, "b.txt": b"b" * 5000}))

    with pytest.raises(FormatError, match="would extract to more than"):
        list_archive(path, "zip", ArchiveLimits(max_total_bytes=8000))


def test_an_xlsx_bomb_is_refused_before_openpyxl_reads_it(tmp_path):
    data = zip_bytes({"xl/workbook.xml": b"<x/>", "xl/worksheets/sheet1.xml": b" " * (8 * 1024 * 1024)})

    with pytest.raises(FormatError, match="zip bomb"):
        inspect(tmp_path, "bomb.xlsx", data)


# --- sniffing details ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "header"),
    [
        (b"name,age\nann,3\nbob,4\n", True),
        (b"1,2\n3,4\n", False),
        (b"ann,3\nbob,4\ncy,5\n", False),
        (b"city,country\nOslo,Norway\nLima,Peru\n", True),
    ],
)
def test_the_header_is_sniffed(tmp_path, text, header):
    path = write(tmp_path / "h.csv", text)

    assert sniff(path, "h.csv").read_options["header"] is header


def test_a_header_can_be_declared(tmp_path):
    path = write(tmp_path / "h.csv", b"1,2\n3,4\n")

    assert sniff(path, "h.csv", {"header": True}).read_options["header"] is True


def test_a_pipe_delimited_file(tmp_path):
    found = inspect(tmp_path, "p.txt", b"a|b\n1|x\n2|y\n")

    assert found["read_options"]["delimiter"] == "|"
    assert found["row_count"] == 2


def test_quoted_fields_with_delimiters_and_newlines_keep_their_rows(tmp_path):
    found = inspect(tmp_path, "q.csv", b'a,b\n1,"x, with comma"\n2,"two\nlines"\n')

    assert found["row_count"] == 2
    assert found["preview"]["rows"][1] == [2, "two\nlines"]


# --- schema -------------------------------------------------------------------------------------


def test_types_are_inferred_per_column():
    frame = pd.DataFrame(
        {
            "i": [1, 2, None],
            "f": [1.5, 2.0, 3.25],
            "b": ["Yes", "no", "yes"],
            "d": ["2024-01-01", "2024-02-03 10:00", "2024-03-04"],
            "t": ["a long sentence", "another one", "and a third"],
            "empty": [None, None, None],
        }
    )

    assert {c["name"]: c["type"] for c in infer_schema(frame)} == {
        "i": "integer",
        "f": "float",
        "b": "boolean",
        "d": "datetime",
        "t": "text",
        "empty": "text",
    }


def test_inference_over_chunks_widens_types_where_chunks_disagree():
    inferrer = SchemaInferrer()
    inferrer.update(pd.DataFrame({"n": [1, 2], "m": [1, 2], "s": ["2024-01-01", "2024-01-02"]}))
    inferrer.update(pd.DataFrame({"n": [1.5, 2.5], "m": ["x", "y"], "s": ["soon", "later"]}))

    assert {c["name"]: c["type"] for c in inferrer.schema()} == {"n": "float", "m": "text", "s": "text"}


def test_a_column_with_many_distinct_values_is_text_not_categorical():
    frame = pd.DataFrame({"code": [f"c{i}" for i in range(200)], "tier": ["gold", "silver"] * 100})

    assert {c["name"]: c["type"] for c in infer_schema(frame)} == {"code": "text", "tier": "categorical"}


def test_apply_schema_casts_every_type():
    frame = pd.DataFrame(
        {"i": ["1", "2", None], "b": ["yes", "no", "yes"], "d": ["2024-01-01", None, "2024-01-03"]}
    )

    cast = apply_schema(
        frame,
        [
            {"name": "i", "type": "integer"},
            {"name": "b", "type": "boolean"},
            {"name": "d", "type": "datetime"},
        ],
    )

    assert str(cast["i"].dtype) == "Int64"
    assert cast["b"].tolist() == [True, False, True]
    assert pd.api.types.is_datetime64_any_dtype(cast["d"])


@pytest.mark.parametrize(
    ("column", "kind", "message"),
    [
        ("word", "integer", "column 'word': 'apple' is not an integer"),
        ("word", "float", "column 'word': 'apple' is not a number"),
        ("half", "integer", "column 'half': 1.5 is not an integer"),
        ("word", "boolean", "column 'word': 'apple' is not true/false"),
        ("word", "datetime", "column 'word': 'apple' is not a date/time"),
    ],
)
def test_apply_schema_names_the_column_that_does_not_fit(column, kind, message):
    frame = pd.DataFrame({"word": ["apple", "pear"], "half": [1.5, 2.0]})

    with pytest.raises(SchemaError, match=message) as raised:
        apply_schema(frame, [{"name": column, "type": kind}])
    assert raised.value.column == column


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ("not a list", "must be a list"),
        ([{"name": "a", "type": "number"}], "unknown type 'number'"),
        ([{"type": "text"}], "must be an object with a 'name'"),
        ([{"name": "a", "type": "text"}, {"name": "a", "type": "text"}], "appears twice"),
    ],
)
def test_malformed_schemas_are_refused(schema, message):
    with pytest.raises(SchemaError, match=message):
        validate_schema(schema)


def test_apply_schema_refuses_a_column_the_data_lacks():
    with pytest.raises(SchemaError, match="'ghost' is in the schema but not in the data"):
        apply_schema(pd.DataFrame({"a": [1]}), [{"name": "ghost", "type": "text"}])


def test_duplicate_column_names_are_counted_and_kept_apart(tmp_path):
    found = inspect(tmp_path, "dup.csv", b"a,a,b\n1,2,x\n3,4,y\n")

    assert found["row_count"] == 2
    assert [c["name"] for c in found["schema"]] == ["a", "a.1", "b"]


def test_a_quoted_header_name_with_the_delimiter_in_it(tmp_path):
    found = inspect(tmp_path, "q.csv", b'"last, first",age\n"Doe, Jane",41\n')

    assert [c["name"] for c in found["schema"]] == ["last, first", "age"]
    assert found["row_count"] == 1
