"""The `coatro` command."""

from __future__ import annotations

import functools
import io
import json
import sys
from pathlib import Path

import click

from coatro_cli import __version__, bulk, progress
from coatro_cli import bookings as booked
from coatro_cli import export as exports
from coatro_cli import report as reports
from coatro_cli import screens as registry
from coatro_cli.api import ApiClient, ApiError, NetworkError, RetryPolicy, TokenSource, iter_pages
from coatro_cli.config import DEFAULT_URL, ConfigError, resolve
from coatro_cli.events import API_MAX_BODY_BYTES, API_MAX_EVENTS, DEFAULT_BATCH_BYTES, DEFAULT_BATCH_EVENTS
from coatro_cli.send import Sender

CONFIG_HELP = f"""Configuration, highest precedence first: the --url / --api-key flags, the environment
variables COATRO_URL / COATRO_API_KEY (or COATRO_CLIENT_ID / COATRO_CLIENT_SECRET for OAuth2 client
credentials), the config file ($COATRO_CONFIG, else ~/.config/coatro/config.toml, with keys url,
api_key, client_id, client_secret), then the default URL {DEFAULT_URL}. With client credentials the
access token is fetched on first use and renewed before it expires; an API key wins when both are set.
"""

EXIT_CODES_HELP = """Exit codes: 0 success (for upload --wait: job completed); 1 error (API, network,
input or configuration); 2 bad command-line usage; 3 job partially_completed (some rows failed), or
for schema preview some rows of the sample are errors, or for screens import some rows failed; 4 job
failed."""


class CliError(click.ClickException):
    """A message for the user, printed as `error: ...`, exit code 1."""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def reports_errors(command):
    """Turn the client's exceptions into messages instead of tracebacks."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ApiError as exc:
            raise CliError("\n".join(exc.lines())) from None
        except NetworkError as exc:
            raise CliError(exc.message()) from None
        except (
            ConfigError,
            bulk.FormatError,
            registry.ImportFileError,
            exports.ExportFailed,
            booked.BookingFileError,
        ) as exc:
            raise CliError(str(exc)) from None

    return wrapper


def connection_options(command):
    """--url, --api-key and --retries, accepted before or after the subcommand name."""
    command = click.option(
        "--retries",
        type=click.IntRange(0, 20),
        default=None,
        help="Retries for a throttled (429), unavailable (502/503/504) or unreachable "
        "server, with exponential backoff; Retry-After is honoured. Default 5.",
    )(command)
    command = click.option(
        "--api-key", metavar="KEY", help="API key (else COATRO_API_KEY or the config file)."
    )(command)
    command = click.option(
        "--url", metavar="URL", help=f"API base URL (else COATRO_URL, the config file, {DEFAULT_URL})."
    )(command)
    return command


def make_client(ctx: click.Context, url: str | None, api_key: str | None, retries: int | None) -> ApiClient:
    top = ctx.find_root().params
    config = resolve(url or top.get("url"), api_key or top.get("api_key"))
    if not config.url.startswith(("http://", "https://")):
        raise ConfigError(
            f"the URL {config.url!r} (from {config.url_source}) must start with http:// or https://"
        )
    retries = retries if retries is not None else top.get("retries")
    policy = RetryPolicy() if retries is None else RetryPolicy(max_attempts=retries + 1)
    config.require_credentials()
    tokens = TokenSource(config.client_id, config.client_secret) if config.uses_client_credentials else None
    return ApiClient(config.url, config.api_key, token_source=tokens, policy=policy, notify=progress.say)


@click.group(
    help=f"Coatro proof-of-play client: send events, upload bulk files, follow jobs.\n\n{CONFIG_HELP}\n{EXIT_CODES_HELP}",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@connection_options
@click.version_option(__version__, prog_name="coatro")
def main(url, api_key, retries):
    pass


@main.command(
    help=f"""Send POP events from FILE (or - for stdin) to POST /coatro/v1/pop/events.

The input is NDJSON (one event per line), a JSON array of events, or {{"events": [...]}}; the kind
is recognised from the content. Events are streamed in gzip-compressed batches within the API's
limits (at most {API_MAX_EVENTS} events and {API_MAX_BODY_BYTES // (1024 * 1024)} MiB per request).
The server rejects a batch with an invalid event as a whole: each error is printed as
FILE:LINE: field: message, and nothing in that batch counts as accepted unless --skip-invalid
resends the rest.

Exit code 0 only if every event was accepted, else 1."""
)
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--batch-size",
    type=click.IntRange(1, API_MAX_EVENTS),
    default=DEFAULT_BATCH_EVENTS,
    show_default=True,
    help="Most events per request.",
)
@click.option(
    "--max-batch-bytes",
    type=click.IntRange(1024, API_MAX_BODY_BYTES),
    default=DEFAULT_BATCH_BYTES,
    show_default=True,
    help="Most bytes per request body (before gzip).",
)
@click.option(
    "--skip-invalid", is_flag=True, help="When a batch is rejected, resend it without the invalid events."
)
@click.option("--progress/--no-progress", "progress_", default=True, help="Show an events counter on stderr.")
@connection_options
@click.pass_context
@reports_errors
def send(ctx, file, batch_size, max_batch_bytes, skip_invalid, progress_, url, api_key, retries):
    client = make_client(ctx, url, api_key, retries)
    name = "<stdin>" if file == "-" else file
    try:
        stream = (
            io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors="strict")
            if file == "-"
            else open(file, encoding="utf-8-sig", errors="strict")
        )
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror}") from None
    counter = progress.bar("send", unit=" events", enabled=progress_)
    sender = Sender(client, name, progress.say, skip_invalid=skip_invalid, on_events=counter.update)
    try:
        with stream:
            summary = sender.send(stream, batch_size, max_batch_bytes)
    except UnicodeDecodeError as exc:
        raise CliError(f"{name} is not UTF-8 text ({exc.reason} at byte {exc.start} of a block)") from None
    finally:
        counter.close()
    progress.say(summary.text())
    ctx.exit(0 if summary.ok else 1)


@main.command(
    help=f"""Upload FILE for bulk ingestion and start its job; print the job id on stdout.

Requests a signed upload URL, PUTs the file (streamed, with a progress bar in bytes on stderr),
then starts the ingest. With --wait, follows the job with a progress bar in rows until it ends.

With --schema-version the rows are mapped by that version (the dynamic endpoints,
/coatro/v1/pop/dynamic/bulk/); without it they are canonical events (/coatro/v1/pop/bulk/).

The format is taken from the extension (.ndjson/.jsonl, .json, .csv) unless --format is given.

{EXIT_CODES_HELP}"""
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(bulk.FORMATS),
    help="File format (default: from the extension).",
)
@click.option(
    "--schema-version",
    help="Schema version that maps the rows (see coatro schema list); "
    "leave it out for a file of canonical events.",
)
@click.option("--metadata", multiple=True, metavar="KEY=VALUE", help="Job metadata; repeat for more pairs.")
@click.option(
    "--expires",
    type=click.IntRange(1, 86400),
    metavar="SECONDS",
    help="Validity of the upload URL (server default 3600).",
)
@click.option("--wait", is_flag=True, help="Follow the job until it ends; the exit code tells how it ended.")
@click.option(
    "--poll-interval",
    type=click.FloatRange(0.1, 3600),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="With --wait: time between status checks.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(0, None),
    metavar="SECONDS",
    help="With --wait: give up waiting after this long (exit 1; the job goes on).",
)
@click.option("--progress/--no-progress", "progress_", default=True, help="Show progress bars on stderr.")
@connection_options
@click.pass_context
@reports_errors
def upload(
    ctx,
    file,
    file_format,
    schema_version,
    metadata,
    expires,
    wait,
    poll_interval,
    timeout,
    progress_,
    url,
    api_key,
    retries,
):
    file_format, meta = _format_and_metadata(file, file_format, metadata)
    client = make_client(ctx, url, api_key, retries)

    target = client.upload_url(file.name, file_format, expires, schema_version)
    for key in ("uploadUrl", "fileId"):
        if not target.get(key):
            raise CliError(f"the upload-url answer has no {key}: {json.dumps(target)[:300]}")
    content_type = target.get("contentType") or "application/octet-stream"
    with progress.bar(
        "upload", total=file.stat().st_size, unit="B", byte_units=True, enabled=progress_
    ) as bar:
        bulk.put_file(client, target["uploadUrl"], content_type, file, bar)
    job = client.ingest(target["fileId"], schema_version, meta)
    job_id = job.get("jobId")
    if not job_id:
        raise CliError(f"the ingest answer has no jobId: {json.dumps(job)[:300]}")
    click.echo(job_id)
    progress.say(f"uploaded {file.name} as {target['fileId']}; job {job_id} started")
    if not wait:
        progress.say(f"follow it with: coatro job {job_id}")
        return
    try:
        with progress.bar("ingest", unit=" rows", enabled=progress_) as bar:
            final = bulk.follow_job(client, job_id, bar, poll_interval, timeout)
    except TimeoutError as exc:
        raise CliError(f"{exc}; it goes on without us: coatro job {job_id}") from None
    except KeyboardInterrupt:
        progress.say(f"\nstopped waiting; the job goes on: coatro job {job_id}")
        ctx.exit(bulk.EXIT_ERROR)
    progress.say("\n".join(bulk.job_lines(final)))
    ctx.exit(bulk.EXIT_FOR_STATUS.get(final.get("status"), bulk.EXIT_ERROR))


@main.group(
    help="""Schema versions: the mappings from an export's fields to the canonical event.

Write a mapping with preview (try, look, fix), register it, then upload files with
--schema-version VERSION. Registered versions are immutable."""
)
def schema():
    pass


@schema.command(
    name="register",
    help="""Register the mapping in FILE (JSON) as a schema version.

The version is --version (which replaces the file's), else the mapping's own "version" key. Registering the same mapping again
is harmless; a different mapping under a registered version is refused (versions are immutable).""",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--version", "version", metavar="VERSION", help='Version to register it as (else the file\'s "version").'
)
@connection_options
@click.pass_context
@reports_errors
def schema_register(ctx, file, version, url, api_key, retries):
    mapping = _read_mapping(file)
    version = version or mapping.get("version")
    if not isinstance(version, str) or not version:
        raise click.UsageError(f'{file.name} has no "version"; pass --version VERSION')
    mapping["version"] = version
    created, document = make_client(ctx, url, api_key, retries).register_schema(version, mapping)
    click.echo(document.get("version", version))
    progress.say(
        f"registered schema version {version}"
        if created
        else f"schema version {version} was already registered with this same mapping; nothing changed"
    )


@schema.command(name="list", help="Schema versions this API key can ingest with, built-in ones first.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer as is.")
@connection_options
@click.pass_context
@reports_errors
def schema_list(ctx, as_json, url, api_key, retries):
    answer = make_client(ctx, url, api_key, retries).schemas()
    if as_json:
        click.echo(json.dumps(answer, indent=2, ensure_ascii=False))
        return
    for entry in answer.get("schemas") or []:
        click.echo(f"{entry.get('version')}{'  (built in)' if entry.get('builtIn') else ''}")


@schema.command(
    name="show", help="Print a schema version's mapping (JSON, ready to edit and register as a new version)."
)
@click.argument("version")
@connection_options
@click.pass_context
@reports_errors
def schema_show(ctx, version, url, api_key, retries):
    document = make_client(ctx, url, api_key, retries).schema(version)
    click.echo(json.dumps(document.get("mapping"), indent=2, ensure_ascii=False))


@schema.command(
    name="preview",
    help=f"""Show what a mapping makes of FILE, ingesting nothing.

--mapping is a mapping file (JSON, need not be registered) or a registered version. The canonical
events are printed on stdout, one JSON object per line; the row errors and counts on stderr. At most
{bulk.PREVIEW_MAX_BYTES // 1024} KiB are sent: a larger NDJSON or CSV file is cut after its last
whole line within that.

Exit code 0 when every row mapped, 3 when some rows are errors.""",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mapping",
    "-m",
    required=True,
    metavar="FILE|VERSION",
    help="A mapping file (JSON) or a registered schema version.",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(bulk.FORMATS),
    help="File format (default: from the extension).",
)
@click.option(
    "--metadata",
    multiple=True,
    metavar="KEY=VALUE",
    help="As an ingest's metadata (e.g. timezone=Europe/Paris).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer as is.")
@connection_options
@click.pass_context
@reports_errors
def schema_preview(ctx, file, mapping, file_format, metadata, as_json, url, api_key, retries):
    file_format, meta = _format_and_metadata(file, file_format, metadata)
    mapping_path = Path(mapping)
    chosen = _read_mapping(mapping_path) if mapping_path.is_file() else mapping
    sample, cut = bulk.read_sample(file, file_format)
    if cut:
        progress.say(f"previewing the first {len(sample.encode())} bytes of {file.name} (whole lines)")
    result = make_client(ctx, url, api_key, retries).preview(sample, file_format, chosen, meta)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        for event in result.get("events") or []:
            click.echo(json.dumps(event, ensure_ascii=False))
        progress.say("\n".join(bulk.preview_lines(result)))
    ctx.exit(bulk.EXIT_OK if not result.get("errorRows") else bulk.EXIT_PARTIAL)


def _read_mapping(path: Path) -> dict:
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    except ValueError as exc:
        raise CliError(f"{path} is not JSON: {exc}") from None
    if not isinstance(mapping, dict):
        raise CliError(f"{path} must hold a JSON object (a mapping)")
    return mapping


@main.command(
    help="""Show a bulk job: status, row counts, times and its first errors.

Exit code 0 when the status was read, whatever it is."""
)
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer as is.")
@connection_options
@click.pass_context
@reports_errors
def job(ctx, job_id, as_json, url, api_key, retries):
    answer = make_client(ctx, url, api_key, retries).job(job_id)
    click.echo(
        json.dumps(answer, indent=2, ensure_ascii=False) if as_json else "\n".join(bulk.job_lines(answer))
    )


@main.command(
    help="""Every per-row error of a bulk job (all pages), as CSV (row,error) or a JSON array.

Written to stdout unless --output is given."""
)
@click.argument("job_id")
@click.option("--format", "out_format", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file.",
)
@click.option("--page-size", type=click.IntRange(1, 1000), default=1000, show_default=True, hidden=True)
@connection_options
@click.pass_context
@reports_errors
def errors(ctx, job_id, out_format, output, page_size, url, api_key, retries):
    client = make_client(ctx, url, api_key, retries)
    rows = bulk.iter_errors(client, job_id, page_size)
    if output is None:
        bulk.write_errors(rows, sys.stdout, out_format)
        return
    partial = output.with_name(output.name + ".partial")
    with partial.open("w", encoding="utf-8", newline="") as out:
        count = bulk.write_errors(rows, out, out_format)
    partial.replace(output)  # a failed export never leaves a truncated file under the real name
    progress.say(f"{count} errors written to {output}")


def _csv_list(ctx, param, value):
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    unknown = [v for v in items if v not in reports.GROUP_KEYS]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)} (choose from {', '.join(reports.GROUP_KEYS)})")
    return items


@main.group(
    invoke_without_command=True,
    help=f"""A delivery report (GET /coatro/v1/pop/reports/delivery), every page of it, as CSV or JSON;
or, with `coatro report performance`, a booking's performance report.

Plays, seconds on screen and impressions per group: --group-by is a comma list of
{", ".join(reports.GROUP_KEYS)} (the server's default: date,campaignId). Days are cut in --timezone
(IANA, default UTC). Give --date for one day, or --from and --to (at most 92 days). The client follows
next_url from the first page to the last and writes rows as they arrive; the token needs reports:read.""",
)
@click.option("--date", "date", metavar="YYYY-MM-DD", help="One day.")
@click.option("--from", "date_from", metavar="YYYY-MM-DD", help="First day of the range.")
@click.option("--to", "date_to", metavar="YYYY-MM-DD", help="Last day of the range.")
@click.option(
    "--group-by", callback=_csv_list, metavar="KEYS", help="Comma list, e.g. date,campaignId,screenId."
)
@click.option(
    "--timezone",
    metavar="IANA",
    help="Time zone of the days and hours, e.g. Europe/Paris, or screen (each play's own screen zone).",
)
@click.option("--campaign-id", help="Only this campaign.")
@click.option("--screen-id", help="Only this screen.")
@click.option("--site-id", help="Only this site.")
@click.option("--creative-id", help="Only this creative.")
@click.option("--format", "out_format", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file.",
)
@connection_options
@click.pass_context
@reports_errors
def report(
    ctx,
    date,
    date_from,
    date_to,
    group_by,
    timezone,
    campaign_id,
    screen_id,
    site_id,
    creative_id,
    out_format,
    output,
    url,
    api_key,
    retries,
):
    if ctx.invoked_subcommand is not None:
        return
    if not date and not (date_from and date_to):
        raise click.UsageError("give --date, or both --from and --to")
    if date and (date_from or date_to):
        raise click.UsageError("give --date or --from/--to, not both")
    params = reports.query(
        date,
        date_from,
        date_to,
        group_by,
        timezone,
        {"campaign_id": campaign_id, "screen_id": screen_id, "site_id": site_id, "creative_id": creative_id},
    )
    client = make_client(ctx, url, api_key, retries)
    rows = reports.rows(client.report_pages(params))
    try:
        if output is None:
            count = reports.write(rows, sys.stdout, out_format, group_by)
        else:
            partial = output.with_name(output.name + ".partial")
            with partial.open("w", encoding="utf-8", newline="") as out:
                count = reports.write(rows, out, out_format, group_by)
            partial.replace(output)  # a failed report never leaves a truncated file under the real name
    except ValueError as exc:
        raise CliError(str(exc)) from None
    progress.say(f"{count} report rows" + (f" written to {output}" if output else ""))


@main.group(help="Raw data out of Coatro: export plays.")
def export():
    pass


@export.command(
    "plays",
    help="""Every play of the days (each eventId once, as the delivery report counts it), as NDJSON or CSV.

Give --date for one day, or --from and --to (at most 92 days). Two ways, the same plays:
--via cursor (default) pages through GET /coatro/v1/pop/reports/plays and writes one file (-o FILE,
else stdout), gzipped with --gzip; --via job starts an export (POST /coatro/v1/pop/exports/plays),
shows its progress, and downloads its gzipped files by their signed URLs into --output-dir. The token
needs reports:read.""",
)
@click.option("--date", "date", metavar="YYYY-MM-DD", help="One day.")
@click.option("--from", "date_from", metavar="YYYY-MM-DD", help="First day of the range.")
@click.option("--to", "date_to", metavar="YYYY-MM-DD", help="Last day of the range.")
@click.option("--timezone", metavar="IANA", help="Time zone of the days (default UTC).")
@click.option("--campaign-id", help="Only this campaign.")
@click.option("--screen-id", help="Only this screen.")
@click.option("--site-id", help="Only this site.")
@click.option("--creative-id", help="Only this creative.")
@click.option(
    "--format", "out_format", type=click.Choice(["ndjson", "csv"]), default="ndjson", show_default=True
)
@click.option("--via", type=click.Choice(["cursor", "job"]), default="cursor", show_default=True)
@click.option(
    "--gzip/--no-gzip",
    "zipped",
    default=None,
    help="Gzip the output (default: yes for --via job, no for cursor).",
)
@click.option(
    "--page-size",
    type=click.IntRange(1, 10_000),
    default=10_000,
    show_default=True,
    help="Plays per page (cursor).",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path), help="File (cursor)."
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="Directory (job).",
)
@click.option(
    "--poll-seconds",
    type=click.FloatRange(0.1, 60),
    default=2.0,
    show_default=True,
    help="Between polls (job).",
)
@click.option("--progress/--no-progress", "progress_", default=True, help="Show progress on stderr.")
@connection_options
@click.pass_context
@reports_errors
def export_plays(
    ctx, date, date_from, date_to, timezone, campaign_id, screen_id, site_id, creative_id, out_format, via,
    zipped, page_size, output, output_dir, poll_seconds, progress_, url, api_key, retries,
):  # fmt: skip
    if not date and not (date_from and date_to):
        raise click.UsageError("give --date, or both --from and --to")
    if date and (date_from or date_to):
        raise click.UsageError("give --date or --from/--to, not both")
    ids = {"campaignId": campaign_id, "screenId": screen_id, "siteId": site_id, "creativeId": creative_id}
    params = exports.filters(date, date_from, date_to, timezone, ids)
    client = make_client(ctx, url, api_key, retries)
    if via == "job":
        started = exports.start_job(client, params, out_format, True if zipped is None else zipped)
        progress.say(f"export {started['exportId']} started")

        def report(view):
            if progress_:
                percent = round(100 * float(view.get("progress") or 0))
                progress.say(f"export {view['exportId']}: {view['state']}, {view['rows']} plays, {percent}%")

        done = exports.wait_job(client, started, report, interval=poll_seconds)
        paths = exports.download(client, done, output_dir)
        for path in paths:
            click.echo(str(path))
        progress.say(f"{done['rows']} plays in {len(paths)} file(s) in {output_dir}")
        return
    with progress.bar("plays", unit="play", enabled=progress_) as counter:
        if output is None:
            raw = sys.stdout.buffer
            target = gzip_writer(raw) if zipped else raw
            count = exports.by_cursor(client, params, out_format, target, page_size, counter.update)
            if zipped:
                target.close()
            raw.flush()
        else:
            partial = output.with_name(output.name + ".partial")
            with partial.open("wb") as raw:
                target = gzip_writer(raw) if zipped else raw
                count = exports.by_cursor(client, params, out_format, target, page_size, counter.update)
                if zipped:
                    target.close()
            partial.replace(output)  # an interrupted export never leaves a truncated file under the real name
    progress.say(f"{count} plays" + (f" written to {output}" if output else ""))


def gzip_writer(raw):
    import gzip

    return gzip.GzipFile(fileobj=raw, mode="wb")


@report.command(
    name="performance",
    help="""A booking's performance report (GET /coatro/v1/pop/reports/performance): contracted vs
delivered, pacing, the projection at the end of the flight, the daily series, dark screens and delivery
outside the booking. --format table (the default) prints a summary; json the whole report; csv and html
the server's renderings (html: a printable page with a chart). Needs reports:read.""",
)
@click.option("--booking", "booking_id", required=True, metavar="ID", help="The booking's id.")
@click.option(
    "--dark-after-hours",
    type=click.IntRange(1, 720),
    help="Hours without a play that make a screen dark (server default 4).",
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["table", "csv", "json", "html"]),
    default="table",
    show_default=True,
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file.",
)
@connection_options
@click.pass_context
@reports_errors
def report_performance(ctx, booking_id, dark_after_hours, out_format, output, url, api_key, retries):
    client = make_client(ctx, url, api_key, retries)
    if out_format in ("csv", "html"):
        text = client.performance_text(booking_id, out_format, dark_after_hours)
    else:
        found = client.performance(booking_id, dark_after_hours)
        if out_format == "json":
            text = registry.dumps(found) + "\n"
        else:
            buffer = io.StringIO()
            booked.write_summary(found, buffer)
            text = buffer.getvalue()
    if output is None:
        click.echo(text, nl=False)
    else:
        partial = output.with_name(output.name + ".partial")
        partial.write_text(text, encoding="utf-8", newline="")
        partial.replace(output)
        progress.say(f"performance report written to {output}")


@main.group(
    help="""Bookings: what was sold (campaign, flight, targets, goal). Record one from a JSON file, list
them, show one. Needs bookings:write to record, bookings:read for the rest (an API key holds both)."""
)
def bookings():
    pass


@bookings.command(
    name="put",
    help="""Create or replace the booking in FILE (a JSON object with its bookingId) through PUT
/coatro/v1/pop/bookings/{bookingId}. A change opens a new version; the same booking again writes
nothing. Every bad field is printed.""",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@connection_options
@click.pass_context
@reports_errors
def bookings_put(ctx, file, url, api_key, retries):
    booking_id, booking = booked.read_booking(file)
    created, current = make_client(ctx, url, api_key, retries).put_booking(booking_id, booking)
    progress.say(
        f"booking {booking_id} {'created' if created else 'saved'}: version {current.get('version')}"
    )
    click.echo(registry.dumps(current))


@bookings.command(name="list", help="The current bookings in bookingId order, as a table or JSON lines.")
@click.option("--campaign-id", help="Only this campaign's bookings.")
@click.option("--active", type=click.Choice(["true", "false"]), help="true: in force; false: cancelled.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per booking, a line each.")
@connection_options
@click.pass_context
@reports_errors
def bookings_list(ctx, campaign_id, active, as_json, url, api_key, retries):
    client = make_client(ctx, url, api_key, retries)
    params = {k: v for k, v in {"campaignId": campaign_id, "active": active}.items() if v is not None}
    params["pageSize"] = 500
    found = iter_pages(
        client.bookings_page(params),
        "bookings",
        lambda token: client.bookings_page({**params, "pageToken": token}),
        "the bookings",
    )
    if as_json:
        count = 0
        for count, booking in enumerate(found, start=1):  # noqa: B007 (count is the total after the loop)
            click.echo(json.dumps(booking, ensure_ascii=False))
    else:
        count = registry.write_table((booked.row(b) for b in found), booked.TABLE_COLUMNS, sys.stdout)
    progress.say(f"{count} bookings")


@bookings.command(name="show", help="A booking's current version (a cancelled one too), as JSON.")
@click.argument("booking_id")
@connection_options
@click.pass_context
@reports_errors
def bookings_show(ctx, booking_id, url, api_key, retries):
    click.echo(registry.dumps(make_client(ctx, url, api_key, retries).booking(booking_id)))


@main.group(
    help="""The screen registry: import a file of screens, list them, show one and its history.

Needs screens:write to import, screens:read for the rest (an API key holds both)."""
)
def screens():
    pass


@screens.command(
    name="import",
    help="""Create, replace or keep the screens of FILE (CSV or NDJSON) through POST
/coatro/v1/pop/screens/import.

A CSV file's header names the columns as field paths (screenId, timeZone, name, venueType,
location.lat, location.lon, country, market, audience.impressionSchedule as JSON, ...); an NDJSON
file holds one screen object per line, with its screenId. The file is sent in parts of --part-rows
rows (a CSV part repeats the header), with a progress line on stderr. Each row is created,
replaced (a new version) or unchanged; a bad row never stops the others. The row errors are printed
on stderr as FILE:ROW: screenId ID: field: message, ROW being the line of the whole file where the
row starts (the header is line 1).

Importing a file again is safe. Exit code 0 when every row was written, 3 when some rows failed,
1 on any other error.""",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(registry.IMPORT_FORMATS),
    help="File format (default: from the extension, .csv or .ndjson/.jsonl).",
)
@click.option(
    "--part-rows",
    type=click.IntRange(1, registry.MAX_PART_ROWS),
    default=registry.DEFAULT_PART_ROWS,
    show_default=True,
    help="Most rows per request.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the combined answer (rows of the whole file) as JSON."
)
@click.option("--progress/--no-progress", "progress_", default=True, help="Show a rows counter on stderr.")
@connection_options
@click.pass_context
@reports_errors
def screens_import(ctx, file, file_format, part_rows, as_json, progress_, url, api_key, retries):
    try:
        file_format = file_format or registry.infer_import_format(file)
    except registry.ImportFileError as exc:
        raise click.BadParameter(str(exc), param_hint="FILE") from None
    parts = registry.read_parts(file, file_format, part_rows)
    client = make_client(ctx, url, api_key, retries)
    content_type = registry.CONTENT_TYPES[file_format]
    with progress.bar("import", total=sum(p.rows for p in parts), unit=" rows", enabled=progress_) as bar:
        summary = registry.import_file(
            parts, lambda body: client.import_screens(body, content_type), bar.update
        )
    for error in summary.errors:
        progress.say(registry.error_line(str(file), error))
    progress.say(summary.text())
    if as_json:
        click.echo(registry.dumps(summary.as_json()))
    ctx.exit(bulk.EXIT_OK if not summary.failed else bulk.EXIT_PARTIAL)


@screens.command(
    name="list",
    help="""The current screens (GET /coatro/v1/pop/screens) in screenId order, as a table or JSON.

The filters combine. One page of --page-size screens unless --all follows every page.""",
)
@click.option("--venue-type", type=int, help="An OpenOOH venue type id (exact).")
@click.option("--market", help="Only this market.")
@click.option("--country", help="Only this ISO 3166-1 alpha-2 country (GB, US).")
@click.option(
    "--active",
    type=click.Choice(["true", "false"]),
    help="true: screens not retired; false: retired ones.",
)
@click.option("--all", "all_pages", is_flag=True, help="Every page, not just the first.")
@click.option("--page-size", type=click.IntRange(1, 500), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per screen, a line each.")
@connection_options
@click.pass_context
@reports_errors
def screens_list(
    ctx, venue_type, market, country, active, all_pages, page_size, as_json, url, api_key, retries
):
    client = make_client(ctx, url, api_key, retries)
    params = {
        k: v
        for k, v in {"venueType": venue_type, "market": market, "country": country, "active": active}.items()
        if v is not None
    }
    params["pageSize"] = page_size
    first = client.screens_page(params)
    if all_pages:
        found = iter_pages(
            first, "screens", lambda token: client.screens_page({**params, "pageToken": token}), "the screens"
        )
    else:
        found = iter(first.get("screens") or [])
    if as_json:
        count = 0
        for count, screen in enumerate(found, start=1):  # noqa: B007 (count is the total after the loop)
            click.echo(json.dumps(screen, ensure_ascii=False))
    else:
        count = registry.write_table(found, registry.TABLE_COLUMNS, sys.stdout)
    more = not all_pages and first.get("nextPageToken")
    progress.say(f"{count} screens" + ("; more with --all" if more else ""))


@screens.command(name="show", help="A screen's current version (a retired one too), as JSON.")
@click.argument("screen_id")
@connection_options
@click.pass_context
@reports_errors
def screens_show(ctx, screen_id, url, api_key, retries):
    click.echo(registry.dumps(make_client(ctx, url, api_key, retries).screen(screen_id)))


@screens.command(name="history", help="Every version of a screen, oldest first, as a table or JSON.")
@click.argument("screen_id")
@click.option("--json", "as_json", is_flag=True, help="The versions as a JSON array.")
@connection_options
@click.pass_context
@reports_errors
def screens_history(ctx, screen_id, as_json, url, api_key, retries):
    client = make_client(ctx, url, api_key, retries)
    versions = list(
        iter_pages(
            client.screen_history_page(screen_id),
            "versions",
            lambda token: client.screen_history_page(screen_id, token),
            f"the versions of {screen_id}",
        )
    )
    if as_json:
        click.echo(registry.dumps(versions))
    else:
        registry.write_table(versions, registry.HISTORY_COLUMNS, sys.stdout)


@main.group(
    help="""Webhook endpoints: register one, list them, see an endpoint's deliveries (docs/webhooks.md).

Needs webhooks:write to register, webhooks:read for the rest (an API key holds both)."""
)
def webhooks():
    pass


def _event_types(ctx, param, value):
    items = [v.strip() for given in value or () for v in given.split(",") if v.strip()]
    if not items:
        raise click.BadParameter("name at least one event type")
    return items


@webhooks.command(
    name="put",
    help="""Create or replace the endpoint WEBHOOK_ID (PUT /coatro/v1/pop/webhooks/WEBHOOK_ID).

--url is the endpoint's https:// URL (so here the API's own URL comes from `coatro --url API ...`,
COATRO_URL or the config file). --events takes a comma list (or is repeated): job.completed,
job.partially_completed, job.failed, report.ready, booking.underdelivering, screen.dark. When the
endpoint is created, its signing secret (whsec_...) is printed on stderr: it is shown this once.
Prints the endpoint as JSON.""",
)
@click.argument("webhook_id")
@click.option("--url", "target", required=True, help="The https:// URL that receives the events.")
@click.option("--events", multiple=True, callback=_event_types, help="Event types (comma list).")
@click.option("--description", help="A note for people.")
@click.option("--api-key", metavar="KEY", help="API key (else COATRO_API_KEY or the config file).")
@click.option("--retries", type=click.IntRange(0, 20), default=None, help="Retries (default 5).")
@click.pass_context
@reports_errors
def webhooks_put(ctx, webhook_id, target, events, description, api_key, retries):
    client = make_client(ctx, None, api_key, retries)
    created, endpoint = client.put_webhook(webhook_id, target, events, description)
    if created:
        progress.say(f"created {webhook_id}; its signing secret, shown only now: {endpoint.get('secret')}")
    else:
        progress.say(f"replaced {webhook_id} (its secret is unchanged)")
    click.echo(json.dumps(endpoint, ensure_ascii=False, indent=2))


@webhooks.command(name="list", help="Every endpoint (GET /coatro/v1/pop/webhooks), as a table or JSON lines.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per endpoint, a line each.")
@connection_options
@click.pass_context
@reports_errors
def webhooks_list(ctx, as_json, url, api_key, retries):
    client = make_client(ctx, url, api_key, retries)
    found = list(iter_pages(client.webhooks_page(), "webhooks", client.webhooks_page, "the webhooks"))
    if as_json:
        for endpoint in found:
            click.echo(json.dumps(endpoint, ensure_ascii=False))
    else:
        rows = ({**e, "events": ",".join(e.get("events") or [])} for e in found)
        registry.write_table(rows, ("webhookId", "url", "events", "description"), sys.stdout)
    progress.say(f"{len(found)} webhooks")


@webhooks.command(
    name="deliveries",
    help="""An endpoint's deliveries, newest event first (GET .../webhooks/WEBHOOK_ID/deliveries):
state (pending, succeeded, failed), attempts, the last status code or error and its latency.""",
)
@click.argument("webhook_id")
@click.option(
    "--limit", type=click.IntRange(1, 100_000), default=50, show_default=True, help="Most deliveries shown."
)
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per delivery (with every attempt), a line each."
)
@connection_options
@click.pass_context
@reports_errors
def webhooks_deliveries(ctx, webhook_id, limit, as_json, url, api_key, retries):
    client = make_client(ctx, url, api_key, retries)
    size = min(limit, 200)
    pages = iter_pages(
        client.webhook_deliveries_page(webhook_id, size),
        "deliveries",
        lambda token: client.webhook_deliveries_page(webhook_id, size, token),
        f"the deliveries of {webhook_id}",
    )
    shown = []
    for delivery in pages:
        shown.append(delivery)
        if len(shown) >= limit:
            break
    if as_json:
        for delivery in shown:
            click.echo(json.dumps(delivery, ensure_ascii=False))
    else:
        rows = []
        for d in shown:
            last = (d.get("attempts") or [{}])[-1]
            rows.append(
                {
                    **d,
                    "attempts": len(d.get("attempts") or []),
                    "last": last.get("statusCode") or last.get("error") or "",
                    "latencyMs": last.get("latencyMs", ""),
                }
            )
        columns = ("eventId", "eventType", "state", "attempts", "last", "latencyMs", "nextAttemptAt")
        registry.write_table(rows, columns, sys.stdout)
    progress.say(f"{len(shown)} deliveries")


@main.command(name="config", help="Show the effective URL and credentials, and where each comes from.")
@connection_options
@click.pass_context
@reports_errors
def show_config(ctx, url, api_key, retries):
    top = ctx.find_root().params
    config = resolve(url or top.get("url"), api_key or top.get("api_key"))
    key = config.api_key
    masked = "(none)" if not key else (key[:4] + "…" + key[-2:] if len(key) > 8 else "****")
    click.echo(f"url      {config.url}   [{config.url_source}]")
    click.echo(f"api key  {masked}   [{config.api_key_source or 'not set'}]")
    if config.client_id or config.client_secret:
        secret = "(none)" if not config.client_secret else "****"
        used = (
            "in use"
            if config.uses_client_credentials
            else ("not used: the API key wins" if key else "incomplete")
        )
        click.echo(
            f"oauth2   client_id {config.client_id or '(none)'}, client_secret {secret}   "
            f"[{config.client_source}; {used}]"
        )
    click.echo(f"config   {config.config_path}{'' if config.config_path.exists() else ' (not present)'}")


def _format_and_metadata(file, file_format: str | None, metadata) -> tuple[str, dict[str, str]]:
    """The file's format (given, or from its extension) and the --metadata pairs, or a usage error."""
    try:
        file_format = file_format or bulk.infer_format(file)
    except bulk.FormatError as exc:
        raise click.BadParameter(str(exc), param_hint="FILE") from None
    try:
        return file_format, bulk.parse_metadata(metadata)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--metadata") from None


# ---- scheduled report drops (docs/report-drops.md)

SCHEDULES_PATH = "/coatro/v1/pop/report-schedules"


def _schedule_path(schedule_id: str, tail: str = "") -> str:
    from urllib.parse import quote

    return f"{SCHEDULES_PATH}/{quote(schedule_id, safe='')}{tail}"


def _pages(client: ApiClient, path: str, key: str, params: dict, what: str):
    first = client.request("GET", path, params=params).json()
    return iter_pages(
        first,
        key,
        lambda token: client.request("GET", path, params={**params, "pageToken": token}).json(),
        what,
    )


@main.group(
    name="report-schedules",
    help="""Scheduled report drops: a report run daily or weekly, its files in a Coatro bucket.

Needs reports:write to put or delete a schedule, reports:read for the rest (an API key holds both).""",
)
def report_schedules():
    pass


@report_schedules.command(
    name="put",
    help="""Create or replace schedule SCHEDULE_ID from FILE (or - for stdin), a JSON body such as
{"report": "delivery", "parameters": {"groupBy": "date,campaignId"}, "schedule": {"frequency": "daily",
"time": "06:00", "timeZone": "Europe/Paris"}, "window": "previous_day", "formats": ["csv"]}.
Prints the schedule as stored.""",
)
@click.argument("schedule_id")
@click.argument("file", type=click.File("r"))
@connection_options
@click.pass_context
@reports_errors
def schedules_put(ctx, schedule_id, file, url, api_key, retries):
    try:
        body = json.load(file)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="FILE") from None
    client = make_client(ctx, url, api_key, retries)
    response = client.request("PUT", _schedule_path(schedule_id), json_body=body)
    progress.say("created" if response.status_code == 201 else "replaced (or unchanged)")
    click.echo(json.dumps(response.json(), indent=2, ensure_ascii=False))


@report_schedules.command(name="list", help="Every schedule, one JSON object a line.")
@connection_options
@click.pass_context
@reports_errors
def schedules_list(ctx, url, api_key, retries):
    client = make_client(ctx, url, api_key, retries)
    count = 0
    for count, schedule in enumerate(  # noqa: B007 (count is the total after the loop)
        _pages(client, SCHEDULES_PATH, "schedules", {"pageSize": 200}, "the schedules"), start=1
    ):
        click.echo(json.dumps(schedule, ensure_ascii=False))
    progress.say(f"{count} schedules")


@report_schedules.command(name="delete", help="Delete a schedule and its run records (its files expire).")
@click.argument("schedule_id")
@connection_options
@click.pass_context
@reports_errors
def schedules_delete(ctx, schedule_id, url, api_key, retries):
    make_client(ctx, url, api_key, retries).request("DELETE", _schedule_path(schedule_id))
    progress.say(f"deleted {schedule_id}")


@report_schedules.command(
    name="runs", help="A schedule's runs, newest first (state, attempts, error), one JSON object a line."
)
@click.argument("schedule_id")
@click.option("--all", "all_pages", is_flag=True, help="Every run, not just the latest 50.")
@connection_options
@click.pass_context
@reports_errors
def schedules_runs(ctx, schedule_id, all_pages, url, api_key, retries):
    client = make_client(ctx, url, api_key, retries)
    path = _schedule_path(schedule_id, "/runs")
    runs = (
        _pages(client, path, "runs", {"pageSize": 200}, "the runs")
        if all_pages
        else iter(client.request("GET", path).json().get("runs") or [])
    )
    for run in runs:
        click.echo(json.dumps(run, ensure_ascii=False))


@report_schedules.command(
    name="files",
    help="""The files of a schedule's latest runs (newest first), one JSON object a line, each with a
signed download URL. With --download DIR, also saves each file there as RUNID.FORMAT.""",
)
@click.argument("schedule_id")
@click.option("--download", type=click.Path(file_okay=False, path_type=Path), help="Save the files here.")
@click.option("--runs", "page_size", type=click.IntRange(1, 25), default=10, show_default=True,
              help="How many of the latest runs.")  # fmt: skip
@connection_options
@click.pass_context
@reports_errors
def schedules_files(ctx, schedule_id, download, page_size, url, api_key, retries):
    import requests

    client = make_client(ctx, url, api_key, retries)
    files = client.request("GET", _schedule_path(schedule_id, "/files"), params={"pageSize": page_size})
    for file in files.json().get("files") or []:
        click.echo(json.dumps(file, ensure_ascii=False))
        if download is not None:
            download.mkdir(parents=True, exist_ok=True)
            # A signed URL carries its own authorization: no API key or token goes to the bucket.
            got = requests.get(file["url"], timeout=120)
            if got.status_code != 200:
                raise CliError(f"downloading {file['name']}: HTTP {got.status_code}")
            target = download / f"{file['runId']}.{file['format']}"
            target.write_bytes(got.content)
            progress.say(f"saved {target}")
