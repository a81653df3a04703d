# After every source already on the line: local groups always win.
group last mkio
