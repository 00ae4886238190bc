"""``dripline templates ...`` commands."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import typer
from rich.table import Table

from dripline.cli_common import JsonOpt, console, err, settings

templates_app = typer.Typer(help="Message templates and call scripts.", no_args_is_help=True)


@templates_app.command("check")
def check(as_json: JsonOpt = False) -> None:
    """Render every template for every product and check it against the compliance rules; exit 1 on any finding."""
    from channels.render import template_names
    from nurture.cadence import CadenceError, load_cadence
    from nurture.products import Product
    from service.templates import lint

    s = settings()
    try:
        findings = lint(s, load_cadence(s.cadence_file.read_text(), source=str(s.cadence_file)))
    except CadenceError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    templates, products = sum(len(names) for names in template_names(s.templates_dir).values()), len(Product)
    if as_json:
        for finding in findings:
            sys.stdout.write(json.dumps(asdict(finding)) + "\n")
    elif findings:
        table = Table(title=f"template check ({s.templates_dir})")
        for col in ("template", "product", "rule", "message"):
            table.add_column(col)
        for f in findings:
            table.add_row(f.template, f.product.value, f.rule, f.message)
        console.print(table)
    out = err if as_json else console
    if findings:
        failing = len({f.template for f in findings})
        out.print(f"[red]{len(findings)} findings in {failing} of {templates} templates[/]")
        raise typer.Exit(1)
    out.print(f"all {templates} templates pass for all {products} products")
