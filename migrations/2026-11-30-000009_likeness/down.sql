DROP TABLE evidence;
DROP TABLE likeness_resources;
