"""Top-level `himitsu` command and its groups."""

from __future__ import annotations

import typer

from himitsu.cli import (
    audit_cmd,
    check_cmd,
    grants_cmd,
    guard_cmd,
    insider_cmd,
    notices_cmd,
    people_cmd,
    pledges_cmd,
    register_cmd,
    scan_cmd,
    secrets_cmd,
    server_cmd,
    training_cmd,
    users_cmd,
)

app = typer.Typer(
    name="himitsu",
    help="Himitsu (秘密): 営業秘密の管理台帳・監査証跡 / trade-secret register and audit trail.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve", help="Webアプリを起動 / Serve the web app.")(server_cmd.serve)
app.command("demo", help="デモ会社を読み込む / Load the demo company into an empty database.")(server_cmd.demo)
app.add_typer(users_cmd.app, name="users", help="利用者 / Users.")
app.add_typer(register_cmd.app, name="register", help="営業秘密管理台帳 / The trade-secret register.")
app.add_typer(audit_cmd.app, name="audit", help="監査証跡 / The audit trail.")
app.add_typer(people_cmd.app, name="people", help="人・入退社 / People, joining and leaving.")
app.add_typer(pledges_cmd.app, name="pledges", help="誓約書・NDA / Pledges and NDAs.")
app.add_typer(notices_cmd.app, name="notices", help="通知 / Notices (in the app and by e-mail).")
app.add_typer(training_cmd.app, name="training", help="教育・研修 / Training records.")
app.add_typer(secrets_cmd.app, name="secrets", help="秘密を含む文書の登録 / Documents that hold secrets.")
app.add_typer(grants_cmd.app, name="grants", help="アクセス権付与・アクセスレビュー / Access grants and reviews.")
app.command("check", help="文書・テキストの検査 / Check files or standard input for secrets and sensitive data.")(
    check_cmd.check)
app.command("scan", help="ファイルサーバ・共有・バケットのスキャン / Scan folders, SMB shares and S3 buckets.")(
    scan_cmd.scan)
app.add_typer(scan_cmd.app, name="scans", help="スキャン対象と定期実行 / Scan targets and the scheduled worker.")
app.add_typer(guard_cmd.app, name="guard", help="送信ガード（ポリシー・トークン・判定の試行） / The outbound guard.")
app.add_typer(insider_cmd.app, name="insider",
              help="インサイダーリスク分析（ログ取込・スコア） / Insider-risk analytics: ingest logs, score days.")
