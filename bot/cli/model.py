"""``sevbot model train|evaluate|list|promote|rollback``: the severity model and its registry."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.settings import Settings


def register(sub: Any) -> None:
    """Add the ``model`` command group to ``sub``."""
    model = sub.add_parser("model", help="the severity model: train, evaluate, list, promote, rollback")
    model_sub = model.add_subparsers(dest="model_command", required=True)

    train = model_sub.add_parser("train", help="train on the catalogue, your rule files and feedback")
    train.add_argument("--rules", nargs="+", default=[], metavar="PATH", help="rule files or folders")
    train.add_argument("--feedback", action="store_true", help="learn from severities people corrected")
    promotion = train.add_mutually_exclusive_group()
    promotion.add_argument("--promote", action="store_true", help="promote even if not shown no worse")
    promotion.add_argument("--no-promote", action="store_true", help="register only")
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(handler=cmd_model_train)

    evaluate = model_sub.add_parser("evaluate", help="grouped cross-validation beside a TF-IDF baseline")
    evaluate.add_argument("--rules", nargs="+", required=True, metavar="PATH", help="rule files or folders")
    evaluate.add_argument("--folds", type=int, default=5)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument(
        "--prior",
        default="bundled",
        metavar="bundled|none|PATH",
        help="the prior the team model may lean on: the bundled model, none, or a bundled-model artifact",
    )
    evaluate.set_defaults(handler=cmd_model_evaluate)

    bundle = model_sub.add_parser("bundle", help="rebuild the bundled model from the shared public rules")
    bundle.add_argument("--data", required=True, metavar="DIR", help="folder holding alert_rules.jsonl")
    bundle.add_argument("--out", metavar="PATH", help="where to write it (default: the package's own file)")
    bundle.add_argument("--exclude", nargs="*", default=[], metavar="SOURCE", help="sources to leave out")
    bundle.add_argument("--check", action="store_true", help="only say whether the package's file is current")
    bundle.set_defaults(handler=cmd_model_bundle)

    listing = model_sub.add_parser("list", help="registered models, newest first")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_model_list)

    promote = model_sub.add_parser("promote", help="make a registered version the serving model")
    promote.add_argument("version")
    promote.set_defaults(handler=cmd_model_promote)

    rollback = model_sub.add_parser("rollback", help="go back to the model active before the current one")
    rollback.set_defaults(handler=cmd_model_rollback)


def cmd_model_train(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bootstrap import build_services
    from bot.clock import utcnow
    from bot.model.training import train_and_register

    if not args.rules and not args.feedback:
        print("sevbot: model train needs --rules PATH… and/or --feedback", file=sys.stderr)
        return 2
    missing = [p for p in args.rules if not _exists(p)]
    if missing:
        print(f"sevbot: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    services = build_services(settings)
    promote = "always" if args.promote else "never" if args.no_promote else "auto"
    try:
        outcome = train_and_register(
            services.db,
            rule_paths=args.rules,
            use_feedback=args.feedback,
            promote=promote,
            current=services.scorer.current,
            seed=args.seed,
            now=utcnow(),
        )
    except ValueError as exc:
        print(f"sevbot: {exc}", file=sys.stderr)
        return 1
    finally:
        services.close()
    if outcome.rules is not None:
        for report in outcome.rules.files:
            print(report.describe())
        print(
            f"rules: {len(outcome.rules.rules)} with a severity, "
            f"{outcome.rules.skipped_no_severity} skipped for no severity, "
            f"{len(outcome.rules.rejected)} file(s) not loaded"
        )
    for word, count in outcome.unknown_severity.items():
        print(f"rules: {count} skipped for an unknown severity word {word!r}")
    if args.feedback:
        print(f"feedback: {outcome.feedback_examples} corrected incident(s)")
    info = outcome.info
    print(f"model {info.version}: {info.training_summary['n_examples']} examples, {info.status}")
    print(outcome.why)
    return 0


def _exists(path: str) -> bool:
    return Path(path).exists()


def cmd_model_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.evaluate import evaluate, render_evaluation
    from bot.model.rulefiles import load_rule_paths, rule_examples

    missing = [p for p in args.rules if not _exists(p)]
    if missing:
        print(f"sevbot: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.folds < 2:
        print("sevbot: --folds must be at least 2", file=sys.stderr)
        return 2
    try:
        prior = _prior(args.prior)
    except (OSError, ValueError) as exc:
        print(f"sevbot: --prior {args.prior}: {exc}", file=sys.stderr)
        return 2
    load = load_rule_paths(args.rules)
    examples = rule_examples(load).examples
    try:
        evaluation = evaluate(examples, folds=args.folds, seed=args.seed, prior=prior)
    except ValueError as exc:
        print(f"sevbot: cannot evaluate: {exc}", file=sys.stderr)
        return 1
    drift = _drift(settings)
    if args.json:
        doc = evaluation.to_json()
        doc["skipped_no_severity"] = load.skipped_no_severity
        doc["files_not_loaded"] = len(load.rejected)
        doc["drift"] = drift
        print(json.dumps(doc))
        return 0
    for report in load.rejected:
        print(report.describe())
    print(
        f"{len(load.rules)} rules with a severity from {len(load.files)} file(s); "
        f"{load.skipped_no_severity} skipped for no severity"
    )
    print(render_evaluation(evaluation, title=" ".join(args.rules)))
    if drift is not None:
        print(
            f"Drift of the serving model on the last day's alerts ({drift['n_recent']}): "
            f"levels PSI {drift['level_psi']:.3f}, {drift['status']}"
        )
    return 0


def _prior(choice: str) -> Any:
    """The content model ``--prior`` names: the bundled one, none, or the one in an artifact file."""
    from analytics.artifact import bundled_model, load_model

    if choice == "bundled":
        return bundled_model().content
    if choice == "none":
        return None
    return load_model(choice).content


def cmd_model_bundle(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.artifact import bundled_path
    from bot.model.bundle import RULES_FILE, build_from_data, bundled_document, write_bundled

    if not (Path(args.data) / RULES_FILE).exists():
        print(f"sevbot: no {RULES_FILE} in {args.data}", file=sys.stderr)
        return 2
    model = build_from_data(args.data, exclude=args.exclude)
    out = Path(args.out) if args.out else bundled_path()
    if args.check:
        current = json.loads(out.read_text(encoding="utf-8")) if out.exists() else None
        same = current == bundled_document(model)
        print(f"{out}: {'current' if same else 'out of date'} ({bundled_document(model)['version']})")
        return 0 if same else 1
    write_bundled(model, out)
    provenance = model.provenance
    print(
        f"wrote {out}: {bundled_document(model)['version']}, {len(model.feature_names)} features,"
        f" C={provenance['c']:g}, page-worthy from p={provenance['page_probability']:g}"
    )
    return 0


def _drift(settings: Settings) -> dict[str, Any] | None:
    """Live drift of the serving model, when there is a database with recent alerts."""
    from bot.bootstrap import build_services
    from bot.clock import utcnow
    from bot.model.drift import live_drift

    if settings.database_url is None and not (settings.data_dir / "sevbot.db").exists():
        return None
    services = build_services(settings)
    try:
        report = live_drift(services.db, services.scorer.current, now=utcnow())
    finally:
        services.close()
    if report is None or report.n_recent == 0:
        return None
    return {
        "n_recent": report.n_recent,
        "level_psi": report.level_psi,
        "status": report.status,
        "features": [{"feature": f.feature, "psi": f.psi} for f in report.features[:10]],
    }


def cmd_model_list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bootstrap import build_services
    from storage.registry import ModelRepository

    services = build_services(settings)
    try:
        with services.db.read() as conn:
            models = ModelRepository(conn).all()
        serving = services.scorer.current.version
        origin = services.scorer.origin
    finally:
        services.close()
    if args.json:
        rows = [
            {
                "version": m.version,
                "status": m.status,
                "created_at": m.created_at.isoformat(),
                "promoted_at": m.promoted_at.isoformat() if m.promoted_at else None,
                "metrics": m.metrics,
                "training_summary": m.training_summary,
                "sklearn_version": m.sklearn_version,
            }
            for m in models
        ]
        print(json.dumps({"serving": {"version": serving, "origin": origin}, "models": rows}))
        return 0
    print(f"serving: {serving} ({origin})")
    print(f"{'VERSION':20}  {'STATUS':11}  {'CREATED (UTC)':16}  {'EXAMPLES':>8}  HELD-OUT MACRO-F1")
    for m in models:
        heldout = (m.metrics or {}).get("heldout")
        figure = (
            f"{heldout['candidate_macro_f1']:.3f} vs {heldout['current_macro_f1']:.3f}" if heldout else "-"
        )
        print(
            f"{m.version:20}  {m.status:11}  {m.created_at:%Y-%m-%d %H:%M}  "
            f"{m.training_summary.get('n_examples', 0):>8}  {figure}"
        )
    if not models:
        print("(no trained models; serving the bundled default)")
    return 0


def cmd_model_promote(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.artifact import model_from_bytes
    from bot.bootstrap import build_services
    from bot.clock import utcnow
    from storage.registry import ModelRepository

    services = build_services(settings)
    try:
        with services.db.write() as conn:
            repo = ModelRepository(conn)
            artifact = repo.artifact(args.version)
            if artifact is None:
                print(f"sevbot: no model version {args.version!r} (see `sevbot model list`)", file=sys.stderr)
                return 1
            model_from_bytes(artifact)  # refuse to promote what would not load
            repo.promote(args.version, now=utcnow())
    except ValueError as exc:
        print(f"sevbot: {args.version} cannot be promoted: {exc}", file=sys.stderr)
        return 1
    finally:
        services.close()
    print(f"promoted {args.version}; running services switch to it within SEVBOT_MODEL_CHECK_SECONDS")
    return 0


def cmd_model_rollback(args: argparse.Namespace, settings: Settings) -> int:
    from bot.bootstrap import build_services
    from bot.clock import utcnow
    from storage.registry import ModelRepository

    services = build_services(settings)
    try:
        with services.db.write() as conn:
            version = ModelRepository(conn).rollback(now=utcnow())
    finally:
        services.close()
    if version is None:
        print("sevbot: nothing to roll back to (no model was active before this one)", file=sys.stderr)
        return 1
    print(f"rolled back to {version}")
    return 0
