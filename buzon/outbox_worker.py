"""The e-mail worker: ``python -m buzon.outbox_worker`` sends what the outbox holds
(e-mails, and WhatsApp notices when WhatsApp is configured), and queues the staff's
daily digest once a day.

Options: ``--once`` (one pass), ``--dead-letters`` (what could not be delivered),
``--retry-dead`` (queue them again), ``--read-mail`` (the embedded mailbox,
decrypted).
"""

from __future__ import annotations

import argparse
import logging

from buzon import periodic, wiring
from buzon.outbox import read_mailbox

logger = logging.getLogger("buzon.outbox")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Send queued e-mails.")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between passes")
    parser.add_argument(
        "--dead-letters", action="store_true", help="list the e-mails that could not be delivered"
    )
    parser.add_argument("--retry-dead", action="store_true", help="queue the dead letters again")
    parser.add_argument(
        "--read-mail", action="store_true", help="print the embedded mailbox (var/mail), decrypted"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s outbox %(levelname)s %(message)s")
    wiring.umask_private()
    wired = wiring.check()
    box = wired.outbox
    if args.dead_letters:
        for letter in box.dead_letters():
            print(
                f"{letter.id}\tcase {letter.case_id}\t{letter.attempts} attempts\t"
                f"{letter.last_error}\t{letter.created_at:%Y-%m-%d %H:%M} UTC\t{letter.subject}"
            )
        return
    if args.retry_dead:
        print(f"{box.retry_dead()} e-mail(s) queued again")
        return
    if args.read_mail:
        for message in read_mailbox(wired.settings.mail_dir, wired.cipher):
            print(message.as_string(), end="\n" + "=" * 72 + "\n")
        return

    def deliver() -> None:
        digests = wired.digest.send_if_due()  # once a day; the claim makes it once overall
        if digests:
            logger.info("queued %d digest e-mail(s)", digests)
        report = box.deliver_due()
        if report.sent or report.failed or report.dead:
            logger.info("sent %d, failed %d, dead %d", report.sent, report.failed, report.dead)

    periodic.repeat(deliver, args.interval, args.once, "delivery", logger)


if __name__ == "__main__":
    main()
