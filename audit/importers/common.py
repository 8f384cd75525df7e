"""What every importer shares: SQL quoting, optional columns of a tabular export, the
exception text of span events, and JSON Lines read line by line."""

from __future__ import annotations

import duckdb

MIN_JSON_OBJECT = 16 * 2**20  # DuckDB's buffer for one JSON value; a whole-file export is one value


def sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Columns:
    """SQL for a source table's columns that may or may not exist in a given export."""

    def __init__(self, headers: list[str]) -> None:
        self.by_lower = {h.strip().lower(): h for h in headers}
        self.used: set[str] = set()

    def col(self, *names: str) -> str:
        """The first present column as text, or NULL."""
        found = [self.by_lower[n.lower()] for n in names if n.lower() in self.by_lower]
        self.used.update(found)
        if not found:
            return "CAST(NULL AS VARCHAR)"
        parts = [f"NULLIF(TRIM({quote(h)}), '')" for h in found]
        return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"

    def json(self, column: str, *paths: str) -> str:
        """A field inside a JSON-text column (first path that has a value), or NULL."""
        if column.lower() not in self.by_lower:
            return "CAST(NULL AS VARCHAR)"
        self.used.add(self.by_lower[column.lower()])
        doc = f"TRY_CAST({quote(self.by_lower[column.lower()])} AS JSON)"
        parts = [f"NULLIF(json_extract_string({doc}, {sql_str(p)}), '')" for p in paths]
        return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# Exceptions as Phoenix writes them in `events`: a Python-literal list of dicts (or JSON).
EXCEPTION_TYPE_RX = r"""['"]exception[.]type['"]: *['"]([^'"]*)['"]"""
EXCEPTION_MSG_RX = (r"""['"]exception[.]message['"]: *'((?:[^'\\]|\\.)*)'""",
                    r"""['"]exception[.]message['"]: *"((?:[^"\\]|\\.)*)\"""")
ERROR_TYPE_PREFIX_RX = r"^([A-Za-z_][A-Za-z0-9_.]*)[(:]"


def exception_type(events: str) -> str:
    return f"NULLIF(regexp_extract({events}, {sql_str(EXCEPTION_TYPE_RX)}, 1), '')"


def exception_message(events: str) -> str:
    a, b = (f"NULLIF(regexp_extract({events}, {sql_str(rx)}, 1), '')" for rx in EXCEPTION_MSG_RX)
    return f"coalesce({a}, {b})"


def type_prefix(text: str) -> str:
    return f"NULLIF(regexp_extract({text}, {sql_str(ERROR_TYPE_PREFIX_RX)}, 1), '')"


def read_lines(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """A JSON Lines file as ``__lines`` (n, line, is_object); lines that are not JSON objects
    go to ``__rejected_lines`` with their line number and the reason."""
    # Lines nested too deep (found by audit.precheck before any parser runs, in the connection's
    # variable `audit_too_deep`) are never parsed: DuckDB's JSON functions recurse per level.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE __lines AS SELECT n, line, "
        "  list_contains(coalesce(getvariable('audit_too_deep'), []), n) AS too_deep, "
        "  left(ltrim(line), 1) = '{' AND NOT too_deep AND json_valid(line) AS is_object "
        "FROM (SELECT row_number() OVER () AS n, line FROM read_csv(?, header = false, "
        "  columns = {'line': 'VARCHAR'}, delim = chr(31), quote = '', escape = '', auto_detect = false, "
        "  strict_mode = false, max_line_size = coalesce(getvariable('audit_line_size'), 2097152)))",
        [path],
    )
    con.execute(
        "INSERT INTO __rejected_lines SELECT n, left(line, 2000), 'malformed JSON record on line ' || n "
        "|| ': ' || CASE WHEN too_deep THEN 'nested deeper than ' || getvariable('audit_max_depth') "
        "|| ' levels (setting max_json_depth)' WHEN json_valid(line) THEN 'not a JSON object' "
        "ELSE 'not valid JSON' END "
        "FROM __lines WHERE trim(line) <> '' AND NOT is_object"
    )




def subgraph_agent(namespace: str) -> str:
    """The agent of a span inside a LangGraph subgraph: the outer node of its checkpoint
    namespace ("billing_agent:<id>|tools:<id>" -> billing_agent); NULL outside subgraphs."""
    return f"CASE WHEN {namespace} LIKE '%|%' THEN NULLIF(split_part(split_part({namespace}, '|', 1), ':', 1), '') END"
