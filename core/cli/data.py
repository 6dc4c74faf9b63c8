"""``list-models``, ``list-datasets`` and ``import-dataset``: what the lab can train, and on what."""
from __future__ import annotations


def cmd_list_models(args) -> int:
    from core.models import list_models, model_info

    for name in list_models(filter=args.filter, family=args.family):
        info = model_info(name)
        print(f"{name:<26} {info.get('family', ''):<9} {info.get('title', '')}")
    return 0


def cmd_list_datasets(args) -> int:
    from core.datasets import list_datasets

    for info in list_datasets():
        print(f"{info.name:<15} {info.availability:<15} {info.title}")
        if args.verbose:
            print(f"{'':<15} {info.how_to}")
    return 0


def cmd_import_dataset(args) -> int:
    from core.datasets import import_keras_dataset

    out = import_keras_dataset(args.name, args.source, keras_home_dir=args.keras_home)
    print(f"Imported {args.name} into {out}")
    return 0


def add_cli(sub) -> None:
    """``list-models``, ``list-datasets`` and ``import-dataset``, in this order."""
    p = sub.add_parser("list-models", help="registered models")
    p.add_argument("--family", choices=["zoo", "backbone"])
    p.add_argument("--filter", help="glob, e.g. 'report_*'")
    p.set_defaults(fn=cmd_list_models)

    p = sub.add_parser("list-datasets", help="registered datasets and their availability")
    p.add_argument("-v", "--verbose", action="store_true")
    p.set_defaults(fn=cmd_list_datasets)

    p = sub.add_parser("import-dataset", help="copy local files of a Keras dataset into Keras' cache")
    p.add_argument("name", help="fashion_mnist, mnist or cifar10")
    p.add_argument("source", help="folder or file with the dataset files")
    p.add_argument("--keras-home", help="cache root (default KERAS_HOME or ~/.keras)")
    p.set_defaults(fn=cmd_import_dataset)
