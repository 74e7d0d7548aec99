"""The `dermnet` command line.

Errors print as one line and exit with status 1; `--debug` shows the traceback instead.
"""

import argparse
import sys


def _size(shape):
    return "×".join("any" if side is None else str(side) for side in shape[:2])


def model_table(pattern="*", task=None, markdown=False):
    """The registry as a text (or Markdown) table: name, task, paper, parameters, input size."""
    import dermnet

    header = ("model", "task", "paper", "parameters", "input (H×W)", "classes")
    rows = []
    for name in dermnet.list_models(pattern, task=task):
        card = dermnet.model_card(name)
        paper = card.paper.split(" (")[0]
        rows.append((name, card.task, paper, f"{card.parameters:,}", _size(card.input_shape),
                     str(card.num_classes)))
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows])


def _list(args):
    print(model_table(args.pattern, args.task, args.markdown))


def _data_download(args):
    from dermnet.data.download import download

    print(f"{args.name}: ready in {download(args.name, args.root)}")


def parser():
    p = argparse.ArgumentParser(prog="dermnet", description="Skin-lesion models for dermoscopy.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = p.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="list the registered models")
    listing.add_argument("pattern", nargs="?", default="*", help="glob on names, e.g. '*dense*'")
    listing.add_argument("--task", help="only models of this task, e.g. classification")
    listing.add_argument("--markdown", action="store_true", help="a Markdown table (for the README)")
    listing.set_defaults(run=_list)

    # `dermnet data SUBCOMMAND`: a group, so that other data subcommands can sit beside `download`
    data = commands.add_parser("data", help="get and check data sets")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    fetch = data_commands.add_parser("download", help="download and extract a public data set")
    fetch.add_argument("name", help="the data set, e.g. isic2018_task3_test (an unknown name lists them)")
    fetch.add_argument("--root", required=True, help="the data folder; images land anywhere under it")
    fetch.set_defaults(run=_data_download)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except Exception as err:  # a person reads this: one line, not a traceback
        if args.debug:
            raise
        print(f"dermnet {args.command}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
