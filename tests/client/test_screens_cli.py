"""`coatro screens import|list|show|history`: a file cut into parts at whole rows, each error named by
its row in the whole file; then the commands against the local stack."""

from __future__ import annotations

import json

import pytest

from coatro_cli.screens import Part, read_parts


def test_a_csv_file_is_cut_at_whole_rows_and_rows_map_back_to_the_file(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text('screenId,name,timeZone\na,A,UTC\n\nb,"two\nlines",UTC\nc,C,UTC\nd,D,UTC\n')
    parts = read_parts(path, "csv", 2)
    assert [p.rows for p in parts] == [2, 2]
    assert parts[0].body == b'screenId,name,timeZone\na,A,UTC\n\nb,"two\nlines",UTC\n'
    assert parts[1].body == b"screenId,name,timeZone\nc,C,UTC\nd,D,UTC\n"
    # the server numbers a part's lines, its header being line 1
    assert parts[0].file_row(4) == 4  # b starts on line 4 of the file
    assert parts[1].file_row(2) == 6 and parts[1].file_row(3) == 7  # c and d


def test_an_ndjson_file_is_cut_at_lines(tmp_path):
    path = tmp_path / "s.ndjson"
    path.write_text('{"screenId": "a"}\n\n{"screenId": "b"}\n{"screenId": "c"}')
    parts = read_parts(path, "ndjson", 2)
    assert [p.rows for p in parts] == [2, 1]
    assert parts[1].body == b'{"screenId": "c"}\n' and parts[1].file_row(1) == 4
    assert Part(b"", 1, 10, 0).file_row(3) == 12


@pytest.fixture
def api(stack, tenant):
    return {"COATRO_URL": stack.gateway_url, "COATRO_API_KEY": tenant[1]}


@pytest.mark.e2e
def test_import_list_show_history_against_the_local_stack(coatro, api, tmp_path):
    lines = ["screenId,name,timeZone,country,market"]
    for i in range(12):
        zone = "Nowhere/Town" if i in (3, 9) else "Europe/Paris"
        lines.append(f"cli-{i:02d},Screen {i},{zone},FR,Paris")
    path = tmp_path / "screens.csv"
    path.write_text("\n".join(lines) + "\n")

    result = coatro("screens", "import", path, "--part-rows", "5", "--json", env=api)
    assert result.code == 3, result.stderr
    assert "import" in result.stderr and "12/12" in result.stderr  # the progress line, rows done/total
    assert f"{path}:5: screenId cli-03: timeZone:" in result.stderr  # row 3 is line 5 (header: 1)
    assert f"{path}:11: screenId cli-09: timeZone:" in result.stderr  # in the second part
    assert "12 rows: 10 created, 0 replaced, 0 unchanged, 2 failed" in result.stderr
    answer = json.loads(result.stdout)
    assert [(e["row"], e["field"]) for e in answer["errors"]] == [(5, "timeZone"), (11, "timeZone")]

    lines[6] = "cli-05,Screen 5,Europe/Paris,FR,Lyon"
    lines[4] = "cli-03,Screen 3,Europe/Paris,FR,Paris"
    lines[10] = "cli-09,Screen 9,Europe/Paris,FR,Paris"
    path.write_text("\n".join(lines) + "\n")
    again = coatro("screens", "import", path, "--part-rows", "5", env=api)
    assert again.code == 0, again.stderr
    assert "12 rows: 2 created, 1 replaced, 9 unchanged, 0 failed" in again.stderr

    listed = coatro("screens", "list", "--market", "Paris", "--page-size", "4", "--all", env=api)
    assert listed.code == 0, listed.stderr
    table = listed.stdout.splitlines()
    assert table[0].split() == [
        "screenId",
        "version",
        "name",
        "timeZone",
        "venueType",
        "country",
        "market",
        "active",
    ]
    assert [row.split()[0] for row in table[1:]] == [f"cli-{i:02d}" for i in range(12) if i != 5]
    first = coatro("screens", "list", "--page-size", "4", "--json", env=api)
    assert len(first.stdout.splitlines()) == 4 and "more with --all" in first.stderr

    shown = coatro("screens", "show", "cli-05", env=api)
    assert shown.code == 0 and json.loads(shown.stdout)["market"] == "Lyon"
    history = coatro("screens", "history", "cli-05", env=api)
    assert [row.split()[0] for row in history.stdout.splitlines()] == ["version", "1", "2"]
    versions = json.loads(coatro("screens", "history", "cli-05", "--json", env=api).stdout)
    assert [v["market"] for v in versions] == ["Paris", "Lyon"]
    missing = coatro("screens", "show", "no-such-screen", env=api)
    assert missing.code == 1 and "404" in missing.stderr
