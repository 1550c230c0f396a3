"""Whether a `stackboxd diagnose --format json` answer holds a finding (tests/cluster/grow.sh's checks).

    diagnosed.py FILE NODE SYMPTOM CAUSE SUBJECT [RESTART]   exit 0 when NODE has a finding of SYMPTOM
                                                             whose cause is CAUSE and whose subject
                                                             contains SUBJECT (and offers RESTART)
    diagnosed.py --absent FILE NODE SYMPTOM SUBJECT          exit 0 when NODE answered and has none of
                                                             SYMPTOM about SUBJECT
On a miss it prints what the node did say."""

import json
import sys


def main(argv):
    absent = argv[:1] == ["--absent"]
    if absent:
        argv = argv[1:]
        path, node, symptom, subject = argv[:4]
        cause, restart = None, None
    else:
        path, node, symptom, cause, subject = argv[:5]
        restart = argv[5] if len(argv) > 5 else None
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"{path}: not a diagnosis: {e}")
        return 1
    answers = [n for n in doc.get("nodes", []) if n.get("node") == node]
    if not answers or answers[0].get("error"):
        print(f"{node} did not answer: {answers}")
        return 1
    findings = [
        f for f in answers[0]["findings"] if f["symptom"] == symptom and subject in f["subject"]
    ]
    if absent:
        ok = not findings
    else:
        ok = any(f["cause"] == cause and (restart is None or f.get("restart") == restart) for f in findings)
    if not ok:
        said = [(f["symptom"], f["subject"], f["cause"], f.get("restart")) for f in answers[0]["findings"]]
        print(f"{node} said: {said}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
