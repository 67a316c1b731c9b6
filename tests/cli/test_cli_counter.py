"""nacre device counter, including power cuts at every write (NACRE_POWER_CUT_AFTER)."""
import os
import shutil
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
import nacre_cli  # noqa: E402
from nacre_cli import NacreTestCase  # noqa: E402

CUT = "NACRE_POWER_CUT_AFTER"
COUNTER = "3"


class CounterTest(NacreTestCase):
    def setUp(self):
        super().setUp()
        self.dev = self.provision()

    def value(self, counter=COUNTER, dev=None):
        res = self.nacre_ok("device", "counter", dev or self.dev, counter)
        return int(res.stdout.strip())

    def test_read_increment_advance(self):
        self.assertEqual(self.value(), 0)
        out = self.nacre_ok("device", "counter", self.dev, COUNTER, "--increment").stdout
        self.assertEqual(out, "1\n")
        j = self.nacre_json("device", "counter", self.dev, COUNTER, "--increment")
        self.assertEqual(j, {"counter": 3, "value": 2})
        j = self.nacre_json("device", "counter", self.dev, COUNTER, "--advance", "100")
        self.assertEqual(j, {"counter": 3, "value": 100})
        j = self.nacre_json("device", "counter", self.dev, COUNTER, "--advance", "100")
        self.assertEqual(j["value"], 100)  # equal: a no-op
        self.assertEqual(self.nacre_json("device", "counter", self.dev, COUNTER)["value"], 100)
        # Other counters are independent.
        self.assertEqual(self.nacre_json("device", "info", self.dev)["counters"],
                         [0, 0, 0, 100, 0, 0, 0, 0])

    def test_advance_lower_refused(self):
        self.nacre_ok("device", "counter", self.dev, COUNTER, "--advance", "50")
        res = self.nacre("device", "counter", self.dev, COUNTER, "--advance", "49")
        self.assert_failure(res, "backwards")
        self.assertEqual(self.value(), 50)

    def test_limits(self):
        top = str(2**32 - 1)
        self.nacre_ok("device", "counter", self.dev, "7", "--advance", top)
        self.assertEqual(self.value("7"), 2**32 - 1)
        res = self.nacre("device", "counter", self.dev, "7", "--increment")
        self.assert_failure(res, "maximum")
        self.assertEqual(self.value("7"), 2**32 - 1)

    def test_usage_errors(self):
        for args in (["8"], ["-1"], ["x"], ["1", "--advance", "-5"],
                     ["1", "--advance", str(2**32)], ["1", "--advance", "1x"],
                     ["1", "--increment", "--advance", "5"], [], ["1", "2"]):
            res = self.nacre("device", "counter", self.dev, *args)
            self.assert_failure(res, status=2)

    def cut_loop(self, label, restore=None):
        """Increment counter 3 with a power cut after n writes, n = 0, 1, ...

        After each run the counter (read without the hook) must equal the old
        value or old + 1, never less; once n reaches the number of writes an
        increment takes, the increment succeeds. Continue a few n beyond that.
        With restore, the device is put back to the same state before each n,
        so every write of one particular increment gets cut.
        Returns the list of n at which the power was really cut.
        """
        old = self.value()
        cut_points = []
        first_success = None
        n = 0
        while first_success is None or n <= first_success + 3:
            self.assertLess(n, 64, "an increment never completed")
            if restore:
                restore()
                old = self.value()
            res = self.nacre("device", "counter", self.dev, COUNTER, "--increment",
                             env={CUT: str(n)})
            now = self.value()
            self.assertIn(now, (old, old + 1),
                          "%s: cut after %d writes: counter went %d -> %d" % (label, n, old, now))
            if res.returncode == 0:
                self.assertEqual(now, old + 1)
                self.assertEqual(int(res.stdout), now)
                if first_success is None:
                    first_success = n
            else:
                self.assert_failure(res, "power lost")
                cut_points.append(n)
            old = now
            n += 1
        print("%s: an increment takes %d write(s); power cut after n = %s writes "
              "(%d cut points), counter never went back"
              % (label, first_success, cut_points, len(cut_points)))
        if restore:
            # Same starting state each time: exactly the first writes get cut.
            self.assertEqual(cut_points, list(range(first_success)))
        return cut_points

    def test_power_cut_every_write(self):
        self.nacre_ok("device", "counter", self.dev, COUNTER, "--advance", "10")
        points = self.cut_loop("plain increment")
        self.assertGreaterEqual(len(points), 1)
        # Everything still works afterwards.
        before = self.value()
        self.nacre_ok("device", "counter", self.dev, COUNTER, "--increment")
        self.assertEqual(self.value(), before + 1)

    def test_power_cut_during_sector_rotation(self):
        """Fill the counter journal until an increment needs more than one
        write (the active sector is full and gets rotated), then cut at every
        write of that increment."""
        snap = self.path("snapshot")
        rotation = None
        for step in range(2000):
            shutil.rmtree(snap, ignore_errors=True)
            shutil.copytree(self.dev, snap)
            old = self.value()
            res = self.nacre("device", "counter", self.dev, COUNTER, "--increment",
                             env={CUT: "1"})
            if res.returncode != 0:
                self.assert_failure(res, "power lost")
                self.assertIn(self.value(), (old, old + 1))
                rotation = step
                break
            self.assertEqual(self.value(), old + 1)
        self.assertIsNotNone(rotation, "no increment ever needed more than one write")

        def restore():
            shutil.rmtree(self.dev)
            shutil.copytree(snap, self.dev)

        points = self.cut_loop("increment with rotation after %d increments" % rotation,
                               restore=restore)
        self.assertGreater(len(points), 1)
        # After the full rotation the counter keeps counting.
        before = self.value()
        for _ in range(3):
            self.nacre_ok("device", "counter", self.dev, COUNTER, "--increment")
        self.assertEqual(self.value(), before + 3)


if __name__ == "__main__":
    nacre_cli.main()
