"""`make serve`: the demo year in a browser. Gives every user of the demo database a password (shown
once, here: a demo's, never a real system's), then serves it. The demo database is a simulated one: the
server runs on its simulated clock (where the year stopped) and sends nothing."""

from __future__ import annotations

import sys

import usecases
import web

DB = sys.argv[1] if len(sys.argv) > 1 else "demo-out/opsqa.db"
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 8080


def main() -> None:
    engine = usecases.open_engine(DB)
    admin = usecases.Caller("sim-admin")
    rows = []
    try:
        for user in usecases.admin.users(engine):
            if user["status"] != "active":
                continue
            password = f"demo-{user['name']}-2027"
            usecases.auth.set_password(engine, admin, user["name"], password)
            rows.append((user["name"], user["display_name"] or "", ", ".join(user["roles"]), password))
    finally:
        engine.close()
    width = max(len(name) for name, *_ in rows)
    print(f"The demo year at http://127.0.0.1:{PORT}/ — sign in as any of them (Ctrl-C stops the server):")
    for name, display, roles, password in rows:
        print(f"  {name:<{width}}  {password:<{width + 10}}  {roles}  {display}")
    web.serve(DB, port=PORT)


if __name__ == "__main__":
    main()
