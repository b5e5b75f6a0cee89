"""`mfbench download lcbench`: fetch YAHPO Gym's LCBench files (v1.0.2), checked by sha256."""

from __future__ import annotations


def add_parser(sub, name, help_):
    p = sub.add_parser(name, help=help_, description=help_)
    p.add_argument("what", choices=["lcbench"], help="the data to fetch")
    p.add_argument("--data-dir", default=None, help="where to put it (default: $MFBENCH_CACHE/yahpo/lcbench)")
    p.add_argument("--url", default=None, help="the folder to fetch from (default: YAHPO's yahpo_data repository)")
    p.set_defaults(func=run)


def run(args) -> int:
    from mfbench.objectives.lcbench import DEFAULT_URL, download

    dest = download(args.data_dir, args.url or DEFAULT_URL)
    print(f"LCBench data (sha256 checked) in {dest}; point $MFBENCH_YAHPO_DATA at it if it is not the default folder")
    return 0
