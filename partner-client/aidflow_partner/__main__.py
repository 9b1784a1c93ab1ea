from aidflow_partner.cli import main

raise SystemExit(main())
